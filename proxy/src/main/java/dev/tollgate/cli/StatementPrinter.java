package dev.tollgate.cli;

import dev.tollgate.escrow.ledger.Conservation;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.SettlementService;
import java.io.PrintStream;
import java.util.List;

/** Prints agents' statements and the ledger's conservation check as a table. */
final class StatementPrinter {
    private StatementPrinter() {
    }

    /** Prints; returns whether money is conserved. */
    static boolean print(PrintStream out, SettlementService settlement, List<String> agents) {
        String fmt = "%-16s %11s %11s %11s %11s %11s %11s %11s%n";
        out.printf(fmt, "statement (USDC)", "credited", "spent", "refunded", "earned", "fees", "held", "balance");
        for (String a : agents) {
            Statement s = settlement.statement(a);
            out.printf(fmt, a, Micros.format(s.creditedMicros()), Micros.format(s.spentMicros()),
                    Micros.format(s.refundedMicros()), Micros.format(s.earnedMicros() + s.referralMicros()),
                    Micros.format(s.feesMicros()), Micros.format(s.heldMicros()), Micros.format(s.balanceMicros()));
        }
        Conservation c = settlement.conservation();
        out.println();
        out.println("conservation: minted " + Micros.format(c.mintedMicros()) + " = balances "
                + Micros.format(c.agentBalancesMicros()) + " + held " + Micros.format(c.escrowBalancesMicros())
                + " + fees " + Micros.format(c.feesMicros()) + "   " + (c.holds() ? "OK" : "VIOLATED"));
        out.println("fee remainder carried to the next payments (below one micro-USDC per payer x payee): "
                + c.feeCarryMicros() + " micro-USDC");
        return c.holds();
    }
}
