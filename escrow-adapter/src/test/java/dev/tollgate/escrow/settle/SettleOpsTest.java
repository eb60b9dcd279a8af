package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tollgate.escrow.db.Database;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The operations table stays the size of the work in flight: operations run in the order they were written per
 * escrow (by row id, no table-wide MAX per insert), and finished ones move to the archive.
 */
class SettleOpsTest {
    private static long count(Connection c, String table) throws java.sql.SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + table); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void operationsRunInWrittenOrderPerEscrowAndFinishedOnesAreArchived() throws Exception {
        try (Database db = Database.open(Files.createTempDirectory("ops-"))) {
            db.transaction(c -> {
                SettleOps.insert(c, "release:a", "a", "esc-a", SettleOps.Kind.RELEASE, 10, "p", "w", 1_000);
                SettleOps.insert(c, "refund:a", "a", "esc-a", SettleOps.Kind.REFUND, 0, "p", "w", 1_000);
                SettleOps.insert(c, "release:b", "b", "esc-b", SettleOps.Kind.RELEASE, 20, "p", "w", 1_000);
                return null;
            });
            // The refund of escrow a waits for its release; escrow b is independent.
            List<SettleOps.Op> due = db.transaction(c -> SettleOps.due(c, 2_000, 10));
            assertEquals(List.of("release:a", "release:b"), due.stream().map(SettleOps.Op::opId).toList());
            db.transaction(c -> {
                SettleOps.mark(c, "release:a", "done", 2_000, null);
                return null;
            });
            due = db.transaction(c -> SettleOps.due(c, 2_000, 10));
            assertEquals(List.of("refund:a", "release:b"), due.stream().map(SettleOps.Op::opId).toList());
            db.transaction(c -> {
                SettleOps.mark(c, "refund:a", "done", 2_000, null);
                SettleOps.mark(c, "release:b", "rejected", 2_000, "not_found");
                // Written at 1,000: archived when the cut-off is later, kept when it is not.
                assertEquals(0, SettleOps.archive(c, 1_000));
                assertEquals(3, SettleOps.archive(c, 1_001));
                assertEquals(0, count(c, "settle_op"));
                assertEquals(3, count(c, "settle_op_archive"));
                return null;
            });
        }
    }
}
