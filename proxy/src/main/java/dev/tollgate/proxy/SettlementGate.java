package dev.tollgate.proxy;

import dev.tollgate.escrow.settle.SettlementService;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.LongSupplier;

/**
 * Admission through the settlement service: accounts with a payment policy get their escrow lock (or stream
 * budget reservation) before the upstream is called. The prompt is tokenized only for those accounts, on the
 * event loop; the ledger work runs on the settlement executor.
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
                                           LongSupplier promptTokenEstimate, long maxTokens) {
        if (!settlement.settles(account)) {
            return CompletableFuture.completedFuture(Decision.ADMIT);
        }
        long estimate = promptTokenEstimate.getAsLong();
        return settlement.admit(requestId, account, worker, model, estimate, maxTokens)
                .thenApply(a -> a.admitted() ? Decision.ADMIT : Decision.paymentRequired(a.message()));
    }
}
