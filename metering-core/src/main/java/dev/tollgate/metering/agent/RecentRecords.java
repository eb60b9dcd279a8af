package dev.tollgate.metering.agent;

import dev.tollgate.metering.UsageRecord;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The most recent usage records by request id, bounded (oldest evicted first).
 *
 * <p>Threading: {@link #add} from the metering thread only; {@link #find} from any thread.
 */
final class RecentRecords {
    private final int capacity;
    private final Map<String, UsageRecord> byId = new ConcurrentHashMap<>();
    private final ArrayDeque<String> order = new ArrayDeque<>();

    RecentRecords(int capacity) {
        this.capacity = capacity;
    }

    void add(UsageRecord r) {
        if (byId.put(r.requestId(), r) == null) {
            order.addLast(r.requestId());
            if (order.size() > capacity) {
                byId.remove(order.pollFirst());
            }
        }
    }

    UsageRecord find(String requestId) {
        return byId.get(requestId);
    }
}
