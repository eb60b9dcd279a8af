package dev.tollgate.metering.agent;

import dev.tollgate.metering.UsageRecord;
import java.util.List;

/**
 * Receives usage records on the metering thread, in batches (one per duty cycle). Implementations must not
 * block for long: the batch is the unit of group commit for a journal.
 */
@FunctionalInterface
public interface UsageListener {
    void onUsage(List<UsageRecord> batch);
}
