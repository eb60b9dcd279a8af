package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.db.Database;

/** Where the journal's usage log lives and how it is opened. */
final class UsageLogs {
    /** Segment size: about 80,000 usage records each. */
    static final int SEGMENT_BYTES = 16 << 20;

    private UsageLogs() {
    }

    /**
     * The usage log in the data directory's {@code usage-log/}; with {@code durability: power} every append is
     * flushed to the device as well.
     */
    static AppendLog open(SettlementConfig cfg, Database db) {
        long watermark = db.transaction(JournalWatermark::get);
        return AppendLog.open(cfg.dataDir().resolve("usage-log"), SEGMENT_BYTES,
                cfg.durability() == Database.Durability.POWER, watermark);
    }
}
