package dev.tollgate.escrow.agent;

import java.util.List;

/**
 * One page of an agent's escrows.
 *
 * @param escrows newest first
 * @param nextSeq the cursor of the next page (pass it back as {@code before}), or -1 when this page is the last
 */
public record AgentEscrowPage(List<AgentEscrow> escrows, long nextSeq) {
}
