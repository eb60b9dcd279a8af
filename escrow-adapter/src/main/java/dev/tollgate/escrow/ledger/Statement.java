package dev.tollgate.escrow.ledger;

/**
 * What one agent's money did, in micro-USDC.
 *
 * @param agent           the agent
 * @param balanceMicros   available balance now
 * @param heldMicros      locked in its open escrows as payer
 * @param spentMicros     released from its escrows to payees (gross, fees included) plus bonuses it paid
 * @param refundedMicros  returned to it from its escrows
 * @param earnedMicros    received as payee (net of fees), bonuses included
 * @param bonusPaidMicros bonuses it paid as payer (gross)
 * @param bonusEarnedMicros bonuses it received as payee (net)
 * @param feesMicros      fees charged on its payments
 * @param referralMicros  referral commission it earned
 * @param creditedMicros  faucet and dev credits it received
 */
public record Statement(String agent, long balanceMicros, long heldMicros, long spentMicros, long refundedMicros,
                        long earnedMicros, long bonusPaidMicros, long bonusEarnedMicros, long feesMicros,
                        long referralMicros, long creditedMicros) {
}
