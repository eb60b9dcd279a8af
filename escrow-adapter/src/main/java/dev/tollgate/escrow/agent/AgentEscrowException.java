package dev.tollgate.escrow.agent;

/**
 * An agent escrow operation refused, with a stable code: {@code not_found}, {@code not_payer},
 * {@code invalid_amount}, {@code insufficient_balance}, {@code already_settled}, {@code invalid_request}.
 * Thrown before the operation changed anything in the ledger.
 */
public final class AgentEscrowException extends RuntimeException {
    private final String code;

    public AgentEscrowException(String code, String message) {
        super(message, null, false, false);
        this.code = code;
    }

    public String code() {
        return code;
    }
}
