package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.db.Database;

/** Where the journal's usage log lives and how it is opened. */
final class UsageLogs {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(UsageLogs.class.getName());
    /** Segment size: about 80,000 usage records each. */
    static final int SEGMENT_BYTES = 16 << 20;

    private UsageLogs() {
    }

    /**
     * The usage log in the data directory's {@code usage-log/}; with {@code durability: power} every append is
     * flushed to the device as well. Null when another process owns it.
     */
    static AppendLog open(SettlementConfig cfg, Database db) {
        long watermark = db.transaction(JournalWatermark::get);
        try {
            return AppendLog.open(cfg.dataDir().resolve("usage-log"), SEGMENT_BYTES,
                    cfg.durability() == Database.Durability.POWER, watermark);
        } catch (AppendLog.OwnedElsewhere e) {
            // A command run beside a running node (`tollgate ledger statement --data DIR`): the node's log is the
            // node's to replay; this process journals straight to the database.
            LOG.info(e.getMessage() + "; journaling straight to the database");
            return null;
        }
    }
}
