package dev.tollgate.proxy;

import dev.tollgate.escrow.settle.SettlementService;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.LongSupplier;

/**
 * Admission through the settlement service: accounts with a payment policy get their escrow lock (or stream
 * budget reservation, or a budget's next escrow) before the upstream is called, decided in memory on the event loop
 * (a billing period or a post-pay standing check completes on the settlement executor).
 *
 * <p>Threading: called on event loops; thread-safe.
 */
final class SettlementGate implements AdmissionGate {
    private final SettlementService settlement;

    SettlementGate(SettlementService settlement) {
        this.settlement = settlement;
    }

    @Override
    public CompletionStage<Decision> admit(String requestId, String account, String worker, String model,
                                           LongSupplier promptTokenEstimate, long maxTokens, int choices) {
        if (!settlement.settles(account)) {
            return CompletableFuture.completedFuture(Decision.ADMIT);
        }
        long estimate = promptTokenEstimate.getAsLong();
        return settlement.admit(requestId, account, worker, model, estimate, maxTokens, choices)
                .thenApply(a -> a.admitted() ? Decision.ADMIT : a.status() == 400
                        ? Decision.invalid(a.message(), a.param()) : a.status() == 503
                        ? new Decision(false, a.message(), 503, null) : Decision.paymentRequired(a.message()));
    }
}
