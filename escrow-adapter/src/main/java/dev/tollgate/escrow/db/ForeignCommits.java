package dev.tollgate.escrow.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * For a keeper of rows in memory (the ledger's, the budgets'): tells it when a transaction of its database first
 * uses it, and whether another connection (a CLI in another process sharing the data directory) committed since
 * its previous transaction ({@code PRAGMA data_version}), in which case what it holds may be stale.
 *
 * <p>Threading: under the database's transaction lock.
 */
public final class ForeignCommits {
    /** What {@link #enter} found. */
    public enum Entry {
        /** Not the first use in this transaction. */
        AGAIN,
        /** The first use in this transaction; no other connection committed since the previous one. */
        FIRST,
        /** The first use in this transaction, and another connection committed since the previous one. */
        FIRST_AFTER_FOREIGN_COMMIT
    }

    private final Database db;
    private long checkedIn = -1;
    private long dataVersion = Long.MIN_VALUE;

    public ForeignCommits(Database db) {
        this.db = db;
    }

    /** Called at each use inside a transaction of this database; reads the data version once per transaction. */
    public Entry enter(Connection c) throws SQLException {
        long serial = db.transactionSerial();
        if (serial == checkedIn) {
            return Entry.AGAIN;
        }
        checkedIn = serial;
        long version;
        try (PreparedStatement ps = c.prepareStatement("PRAGMA data_version"); ResultSet rs = ps.executeQuery()) {
            version = rs.next() ? rs.getLong(1) : 0;
        }
        if (version == dataVersion) {
            return Entry.FIRST;
        }
        dataVersion = version;
        return Entry.FIRST_AFTER_FOREIGN_COMMIT;
    }
}
