package dev.tollgate.escrow.purpleflea;

import dev.tollgate.escrow.port.EscrowState;

/**
 * An escrow as the Purple Flea service shows it, with its description (which names the Tollgate operation that
 * created it).
 */
public record PurpleFleaEscrowView(EscrowState state, String description) {
    /** Whether this escrow's description names the operation (exactly, not as a prefix of a longer id). */
    public boolean names(String opId) {
        return description.equals("tollgate op=" + opId);
    }
}
