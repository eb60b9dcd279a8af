package dev.tollgate.metering.agent;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters per account x upstream x model (tokens, requests per outcome) and per account (totals).
 *
 * <p>Threading: written only by the metering thread (the index is its own); read by any thread through
 * {@code byKey} and {@code byAccount} (values are atomics).
 */
final class UsageAggregates {
    record Key(String account, String upstream, String model) {
    }

    static final class Counters {
        final AtomicLong prompt = new AtomicLong();
        final AtomicLong completion = new AtomicLong();
        final AtomicLong[] byOutcome = new AtomicLong[Outcome.values().length];

        Counters() {
            for (int i = 0; i < byOutcome.length; i++) {
                byOutcome[i] = new AtomicLong();
            }
        }
    }

    static final class AccountTotals {
        final AtomicLong requests = new AtomicLong();
        final AtomicLong prompt = new AtomicLong();
        final AtomicLong completion = new AtomicLong();
    }

    final Map<Key, Counters> byKey = new ConcurrentHashMap<>();
    final Map<String, AccountTotals> byAccount = new ConcurrentHashMap<>();
    /** account -> upstream -> model -> counters: found without allocating a key (the metering hot path). */
    private final Map<String, Map<String, Map<String, Counters>>> index = new java.util.HashMap<>();

    void add(UsageRecord r) {
        Map<String, Counters> models = index.computeIfAbsent(r.account(), a -> new java.util.HashMap<>())
                .computeIfAbsent(r.upstream(), u -> new java.util.HashMap<>());
        Counters c = models.get(r.model());
        if (c == null) {
            c = byKey.computeIfAbsent(new Key(r.account(), r.upstream(), r.model()), k -> new Counters());
            models.put(r.model(), c);
        }
        c.prompt.lazySet(c.prompt.get() + r.promptTokens());
        c.completion.lazySet(c.completion.get() + r.completionTokens());
        AtomicLong o = c.byOutcome[r.outcome().ordinal()];
        o.lazySet(o.get() + 1);
        AccountTotals t = byAccount.computeIfAbsent(r.account(), k -> new AccountTotals());
        t.requests.lazySet(t.requests.get() + 1);
        t.prompt.lazySet(t.prompt.get() + r.promptTokens());
        t.completion.lazySet(t.completion.get() + r.completionTokens());
    }

    UsageTotals totals(String account) {
        AccountTotals t = byAccount.get(account);
        return t == null ? new UsageTotals(account, 0, 0, 0)
                : new UsageTotals(account, t.requests.get(), t.prompt.get(), t.completion.get());
    }
}
