package dev.tollgate.escrow.settle;

/**
 * What one request's settlement looks like now. Amounts in micro-USDC.
 *
 * @param requestId      the request
 * @param policy         {@code per_request} or {@code stream_budget}
 * @param state          e.g. {@code locked}, {@code settling}, {@code settled}, {@code refunded}, {@code batched},
 *                       {@code awaiting_score}, {@code lock_failed}
 * @param escrowId       the escrow that pays for it
 * @param reservedMicros what was locked or reserved for it before it ran
 * @param costMicros     what its tokens cost
 * @param releasedMicros paid to the worker for it (gross)
 * @param refundedMicros returned to the payer
 * @param bonusMicros    bonuses paid for it
 */
public record SettlementView(String requestId, String policy, String state, String escrowId, long reservedMicros,
                             long costMicros, long releasedMicros, long refundedMicros, long bonusMicros) {
}
