package dev.tollgate.escrow.agent;

/**
 * An escrow an agent opened through the agent API, as its payer and payee see it: the ledger's amounts and the
 * agent-facing terms (memo, auto-release). Amounts in micro-USDC.
 *
 * @param id               the escrow id ({@code esc_} and 16 hex digits)
 * @param payer            the agent that locked the funds
 * @param payee            the agent it pays ({@code to_agent_id})
 * @param memo             free text from the payer
 * @param autoReleaseHours hours after creation when the remainder is settled by itself
 * @param releaseAtMillis  that moment (epoch milliseconds)
 * @param onExpiry         {@code release} (to the payee, the default) or {@code refund} (to the payer)
 * @param createdMillis    creation time
 * @param lockedMicros     amount locked
 * @param releasedMicros   released to the payee in total (gross, fee included)
 * @param refundedMicros   returned to the payer in total
 * @param ledgerStatus     the ledger's status: {@code locked}, {@code closed} or {@code expired}
 */
public record AgentEscrow(String id, String payer, String payee, String memo, long autoReleaseHours,
                          long releaseAtMillis, String onExpiry, long createdMillis, long lockedMicros,
                          long releasedMicros, long refundedMicros, String ledgerStatus) {

    public long remainingMicros() {
        return lockedMicros - releasedMicros - refundedMicros;
    }

    public boolean open() {
        return ledgerStatus.equals("locked");
    }

    /**
     * The status an agent reads: {@code locked} while open; once settled {@code released} (all to the payee),
     * {@code refunded} (all back to the payer), {@code settled} (some of each); {@code expired} when its
     * auto-release time settled it.
     */
    public String status() {
        if (open()) {
            return "locked";
        }
        if (ledgerStatus.equals("expired")) {
            return "expired";
        }
        if (refundedMicros == 0) {
            return "released";
        }
        return releasedMicros == 0 ? "refunded" : "settled";
    }
}
