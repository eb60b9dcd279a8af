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
     * @param promptTokenEstimate counts the prompt's tokens locally; call it only when the decision needs it
     *                            (it tokenizes the prompt), and only on the calling thread
     */
    CompletionStage<Decision> admit(String requestId, String account, String worker, String model,
                                    LongSupplier promptTokenEstimate, long maxTokens);

    /** The gate's answer: admit, or refuse with a client-facing message (HTTP 402). */
    record Decision(boolean admitted, String message) {
        public static final Decision ADMIT = new Decision(true, null);

        public static Decision paymentRequired(String message) {
            return new Decision(false, message);
        }
    }
}
