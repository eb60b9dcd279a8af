package dev.tollgate.proxy;

import java.util.concurrent.CompletionStage;

/**
 * Decides, before any upstream call, whether a metered request may go ahead (for example: an escrow lock
 * for its worst-case cost succeeded). Implementations must not block the calling event loop.
 *
 * <p>Threading: called on event loops; the returned stage may complete on any thread.
 */
@FunctionalInterface
public interface AdmissionGate {
    /** Lets everything through. */
    AdmissionGate OPEN = (requestId, account, worker, model, promptEstimate, maxTokens) ->
            java.util.concurrent.CompletableFuture.completedFuture(Decision.ADMIT);

    CompletionStage<Decision> admit(String requestId, String account, String worker, String model,
                                    long promptTokenEstimate, long maxTokens);

    /** The gate's answer: admit, or refuse with a client-facing message (HTTP 402). */
    record Decision(boolean admitted, String message) {
        public static final Decision ADMIT = new Decision(true, null);

        public static Decision paymentRequired(String message) {
            return new Decision(false, message);
        }
    }
}
