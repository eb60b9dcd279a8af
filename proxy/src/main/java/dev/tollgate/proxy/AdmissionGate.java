package dev.tollgate.proxy;

import java.util.concurrent.CompletionStage;
import java.util.function.LongSupplier;

/**
 * Decides, before any upstream call, whether a metered request may go ahead (for example: an escrow lock
 * for its worst-case cost succeeded). Implementations must not block the calling event loop.
 *
 * <p>Threading: called on event loops; the returned stage may complete on any thread.
 */
@FunctionalInterface
public interface AdmissionGate {
    /**
     * @param promptTokenEstimate an upper bound of the prompt's tokens; call it only when the decision needs it,
     *                            and only on the calling thread
     * @param maxTokens           completion token limit per choice, or -1
     * @param choices             completions the request may generate ({@code max(n, best_of)})
     */
    CompletionStage<Decision> admit(String requestId, String account, String worker, String model,
                                    LongSupplier promptTokenEstimate, long maxTokens, int choices);

    /**
     * The gate's answer: admit, or refuse with a client-facing message: HTTP 402 (payment) or 400 (the request
     * cannot be priced; {@code param} names the field).
     */
    record Decision(boolean admitted, String message, int status, String param) {
        public static final Decision ADMIT = new Decision(true, null, 200, null);

        public static Decision paymentRequired(String message) {
            return new Decision(false, message, 402, null);
        }

        public static Decision invalid(String message, String param) {
            return new Decision(false, message, 400, param);
        }
    }
}
