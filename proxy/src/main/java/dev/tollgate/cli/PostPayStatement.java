package dev.tollgate.cli;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.PostPayView;
import dev.tollgate.proxy.admin.RemoteSettlementRoutes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code tollgate ledger statement} for a data directory of the Purple Flea backend: per payer x worker, what
 * accrued, what was paid in escrows, pending, unknown and still owed, and the service's fees. Reads the database
 * only: no settler is started (a second one, next to a running node, could carry out an operation twice).
 */
final class PostPayStatement {
    private PostPayStatement() {
    }

    /** Prints the statement and returns true, or returns false when the directory holds no post-pay settlement. */
    static boolean print(Path data, String agent, boolean json) {
        if (!Files.isRegularFile(data.resolve("tollgate.db"))) {
            return false;
        }
        try (Database db = Database.open(data)) {
            if (!PostPayView.any(db)) {
                return false;
            }
            // The service's minimum (0.10): what "below minimum" means for the owed amount.
            List<PostPayView.Pair> pairs = PostPayView.pairs(db, agent, 100_000);
            if (json) {
                System.out.println(RemoteSettlementRoutes.statementJson(agent, pairs).toPrettyString());
                return true;
            }
            System.out.printf("%-20s %-20s %12s %12s %12s %12s %12s %10s %10s %7s  %s%n", "PAYER", "WORKER", "ACCRUED",
                    "PAID", "PENDING", "UNKNOWN", "OWED", "FEES", "REFERRAL", "ESCROWS", "STANDING");
            for (PostPayView.Pair p : pairs) {
                System.out.printf("%-20s %-20s %12s %12s %12s %12s %12s %10s %10s %7d  %s%n", p.payer(), p.worker(),
                        Micros.format(p.accruedMicros()), Micros.format(p.paidMicros()),
                        Micros.format(p.pendingMicros()), Micros.format(p.unknownMicros()),
                        Micros.format(p.owedMicros()) + (p.belowMinimum() ? "*" : ""), Micros.format(p.feeMicros()),
                        Micros.format(p.referralMicros()), p.escrows(),
                        p.standing() + (p.problem() == null ? "" : " (" + p.problem() + ")"));
            }
            System.out.println("* below the service's 0.10 minimum: paid with the next payment");
            return true;
        }
    }
}
