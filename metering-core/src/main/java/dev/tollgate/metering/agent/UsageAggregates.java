package dev.tollgate.metering.agent;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters per account x upstream x model label (tokens, requests per outcome) and per account (totals). The
 * model label is the model's name only for the models the operator configured; any other name a client sends
 * counts as {@code "other"}, so the number of series stays bounded whatever clients send.
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

    /** The {@code model} label for models that are not in {@link #labelledModels}. */
    static final String OTHER_MODEL = "other";

    private final Set<String> labelledModels;

    /** @param labelledModels the models that get their own label; every other model is counted as "other" */
    UsageAggregates(Set<String> labelledModels) {
        this.labelledModels = Set.copyOf(labelledModels);
    }

    /** The metrics label of a model: its name if the operator configured it, else {@value #OTHER_MODEL}. */
    String modelLabel(String model) {
        return model != null && labelledModels.contains(model) ? model : OTHER_MODEL;
    }

    void add(UsageRecord r) {
        String model = modelLabel(r.model());
        Map<String, Counters> models = index.computeIfAbsent(r.account(), a -> new java.util.HashMap<>())
                .computeIfAbsent(r.upstream(), u -> new java.util.HashMap<>());
        Counters c = models.get(model);
        if (c == null) {
            c = byKey.computeIfAbsent(new Key(r.account(), r.upstream(), model), k -> new Counters());
            models.put(model, c);
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
