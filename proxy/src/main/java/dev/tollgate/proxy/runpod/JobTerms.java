package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.ConfigValues;
import dev.tollgate.proxy.config.ConfigException;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What each paying account's configuration says about RunPod jobs (keys of {@code settlement.accounts.<id>}):
 * <pre>
 *   job_budget: "0.50"        # lock for a job with no token limit in its input
 *   max_job_budget: "5.00"    # cap of a client's x-tollgate-budget header (absent: the balance is the cap)
 *   job_partial: refund       # or pay: a FAILED/CANCELLED/TIMED_OUT job whose usage shows work pays for it
 *   job_bonus: {metric: tokens_per_second, baseline: "40", min_improvement_pct: 10, pool: "0.05"}
 * </pre>
 * Read once at start-up; every error is a {@link ConfigException} naming the key.
 *
 * <p>Threading: immutable.
 */
final class JobTerms {
    /** Performance bonus: {@code metric} is {@code tokens_per_second} (higher is better) or {@code execution_ms}. */
    record Bonus(boolean tokensPerSecond, long baselineMilli, int minImprovementPct, long poolMicros) {
    }

    /** One account's terms; amounts in micro-USDC, -1 when not set. */
    record Terms(long jobBudgetMicros, long maxJobBudgetMicros, boolean payPartial, Bonus bonus) {
        static final Terms NONE = new Terms(-1, -1, false, null);
    }

    private final Map<String, Terms> byAccount;

    private JobTerms(Map<String, Terms> byAccount) {
        this.byAccount = byAccount;
    }

    static JobTerms read(JsonNode settlement) {
        Map<String, Terms> out = new HashMap<>();
        JsonNode accounts = settlement == null ? null : settlement.get("accounts");
        if (accounts != null && accounts.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = accounts.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                try {
                    out.put(e.getKey(), terms("settlement.accounts." + e.getKey(), e.getValue()));
                } catch (IllegalArgumentException ex) {
                    throw new ConfigException(ex.getMessage());
                }
            }
        }
        return new JobTerms(Map.copyOf(out));
    }

    Terms of(String account) {
        Terms t = byAccount.get(account);
        return t != null ? t : byAccount.getOrDefault("*", Terms.NONE);
    }

    private static Terms terms(String where, JsonNode a) {
        long budget = micros(a, where, "job_budget");
        long max = micros(a, where, "max_job_budget");
        boolean pay = ConfigValues.oneOf(a, where, "job_partial", "refund", List.of("refund", "pay")).equals("pay");
        JsonNode b = a.get("job_bonus");
        Bonus bonus = null;
        if (b != null && !b.isNull()) {
            String bw = where + ".job_bonus";
            ConfigValues.only(b, bw, Set.of("metric", "baseline", "min_improvement_pct", "pool"));
            boolean tps = ConfigValues.oneOf(b, bw, "metric", "tokens_per_second",
                    List.of("tokens_per_second", "execution_ms")).equals("tokens_per_second");
            String baseline = ConfigValues.decimal(b, bw, "baseline", null);
            if (baseline == null) {
                throw new IllegalArgumentException(bw + ".baseline is required");
            }
            long baselineMilli = Micros.parse(baseline) / 1000;
            if (baselineMilli <= 0) {
                throw new IllegalArgumentException(bw + ".baseline must be positive (at most 3 decimals), got \""
                        + baseline + "\"");
            }
            long pool = micros(b, bw, "pool");
            if (pool < 0) {
                throw new IllegalArgumentException(bw + ".pool is required");
            }
            bonus = new Bonus(tps, baselineMilli, ConfigValues.intValue(b, bw, "min_improvement_pct", 10, 0, 10_000),
                    pool);
        }
        return new Terms(budget, max, pay, bonus);
    }

    private static long micros(JsonNode n, String where, String field) {
        String v = ConfigValues.decimal(n, where, field, null);
        if (v == null) {
            return -1;
        }
        try {
            return Micros.parse(v);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " must have at most 6 decimals, got \""
                    + v + "\"");
        }
    }
}
