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
 * @param feeCarryTenThousandths fees accrued but below a whole micro-USDC, carried per payer x payee pair to their
 *                               next payment, in ten-thousandths of a micro-USDC (not yet money: not in any balance)
 */
public record Conservation(long mintedMicros, long agentBalancesMicros, long escrowBalancesMicros, long feesMicros,
                           boolean balancesMatchTransfers, long feeCarryTenThousandths) {

    /** The carried fee remainder as a decimal of micro-USDC, e.g. "0.4300". */
    public String feeCarryMicros() {
        return java.math.BigDecimal.valueOf(feeCarryTenThousandths, 4).toPlainString();
    }

    public boolean holds() {
        return balancesMatchTransfers && mintedMicros == agentBalancesMicros + escrowBalancesMicros + feesMicros;
    }
}
