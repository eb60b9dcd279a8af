package dev.tollgate.escrow.settle;

import dev.tollgate.metering.UsageRecord;
import java.util.List;

/**
 * What the metering thread handed to the journal's writer in one go: the ledger intents admitted before the
 * records, the records, and where they are in the usage log (entries numbered from {@code firstSeq}, intents first;
 * -1 when they were not logged).
 *
 * @param ticket        the hand-off's number (0: read back from the log at start-up)
 * @param handedAtNanos when it was handed over ({@link System#nanoTime()})
 */
record JournalBatch(List<Object> intents, List<UsageRecord> records, long firstSeq, long ticket,
                    long handedAtNanos) {

    /** The number of the batch's last log entry, or -1 when it was not logged. */
    long lastSeq() {
        return firstSeq < 0 ? -1 : firstSeq + intents.size() + records.size() - 1;
    }

    int entries() {
        return intents.size() + records.size();
    }
}
