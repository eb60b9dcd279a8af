package dev.tollgate.proxy.control;

import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.UsageListener;
import dev.tollgate.proto.v1.UsageEvent;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Pushes metered usage records to gRPC subscribers. Runs on the metering thread (as a {@link UsageListener});
 * a subscriber that is not ready to receive misses events, and the misses are counted
 * ({@link #dropped()}): a slow observer never slows metering or settlement.
 *
 * <p>Threading: {@link #subscribe} from gRPC threads; {@link #onUsage} on the metering thread only.
 */
public final class UsageFeed implements UsageListener {
    private final List<Subscriber> subscribers = new CopyOnWriteArrayList<>();
    private final AtomicLong dropped = new AtomicLong();

    private record Subscriber(String account, ServerCallStreamObserver<UsageEvent> observer) {
    }

    public void subscribe(String account, ServerCallStreamObserver<UsageEvent> observer) {
        Subscriber s = new Subscriber(account == null || account.isEmpty() ? null : account, observer);
        observer.setOnCancelHandler(() -> subscribers.remove(s));
        subscribers.add(s);
    }

    public long dropped() {
        return dropped.get();
    }

    @Override
    public void onUsage(List<UsageRecord> batch) {
        if (subscribers.isEmpty()) {
            return;
        }
        for (UsageRecord r : batch) {
            UsageEvent event = null;
            for (Subscriber s : subscribers) {
                if (s.account() != null && !s.account().equals(r.account())) {
                    continue;
                }
                if (s.observer().isCancelled()) {
                    subscribers.remove(s);
                    continue;
                }
                if (!s.observer().isReady()) {
                    dropped.incrementAndGet();
                    continue;
                }
                if (event == null) {
                    event = toEvent(r);
                }
                s.observer().onNext(event);
            }
        }
    }

    static UsageEvent toEvent(UsageRecord r) {
        return UsageEvent.newBuilder()
                .setRequestId(r.requestId())
                .setAccount(r.account())
                .setUpstream(r.upstream())
                .setModel(r.model())
                .setPromptTokens(r.promptTokens())
                .setCompletionTokens(r.completionTokens())
                .setUsageSource(r.usageSource().wireName())
                .setOutcome(r.outcome().wireName())
                .setTtftMicros(r.ttftNanos() < 0 ? -1 : r.ttftNanos() / 1000)
                .setDurationMicros(r.durationNanos() / 1000)
                .build();
    }
}
