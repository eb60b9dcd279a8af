package dev.tollgate.escrow.ledger;

/**
 * The ledger-wide check: money minted equals money held by agents, escrows and the fee account; and the
 * balances equal the sums of their transfers.
 *
 * @param mintedMicros          total ever credited (faucet, dev credits)
 * @param agentBalancesMicros   sum of agent balances
 * @param escrowBalancesMicros  sum of open escrow holds
 * @param feesMicros            fee account balance
 * @param balancesMatchTransfers every balance equals credits minus debits of its transfers
 */
public record Conservation(long mintedMicros, long agentBalancesMicros, long escrowBalancesMicros, long feesMicros,
                           boolean balancesMatchTransfers) {
    public boolean holds() {
        return balancesMatchTransfers && mintedMicros == agentBalancesMicros + escrowBalancesMicros + feesMicros;
    }
}
