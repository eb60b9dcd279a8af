package dev.tollgate.escrow.settle;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.pricing.Micros;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads an account's billing-pattern keys ({@code call_price}, {@code period_price}, {@code period_hours},
 * {@code quota}, {@code overage_price}, {@code overage_pool}, {@code milestones}) and checks that its policy has
 * what it needs. Errors name the key's full path, like the rest of the settlement section. Stateless.
 */
final class BillingPatternReader {
    private static final long MAX_HOURS = 24L * 366;

    private BillingPatternReader() {
    }

    static BillingPattern read(JsonNode a, String where, PolicyKind kind) {
        long callPrice = micros(a, where, "call_price");
        long periodPrice = micros(a, where, "period_price");
        long hours = ConfigValues.integer(a, where, "period_hours", kind == PolicyKind.MILESTONE ? 720 : 168, 1,
                MAX_HOURS);
        long quota = ConfigValues.integer(a, where, "quota", 0, 0, Long.MAX_VALUE);
        long overagePrice = micros(a, where, "overage_price");
        long overagePool = micros(a, where, "overage_pool");
        Map<String, Integer> milestones = milestones(a, where);
        switch (kind) {
            case PER_CALL -> need(callPrice > 0, where, "call_price", "per_call");
            case SUBSCRIPTION -> need(periodPrice > 0, where, "period_price", "subscription");
            case HYBRID -> {
                need(periodPrice > 0, where, "period_price", "hybrid");
                need(quota > 0, where, "quota", "hybrid");
                need(overagePrice > 0, where, "overage_price", "hybrid");
                need(overagePool >= overagePrice, where, "overage_pool", "hybrid");
            }
            case MILESTONE -> {
                need(periodPrice > 0, where, "period_price", "milestone");
                need(!milestones.isEmpty(), where, "milestones", "milestone");
            }
            default -> {
                return BillingPattern.NONE;
            }
        }
        return new BillingPattern(callPrice, periodPrice, hours, quota, overagePrice, overagePool, milestones);
    }

    private static void need(boolean ok, String where, String field, String policy) {
        if (!ok) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " is required (and more than 0) for "
                    + "the policy " + policy);
        }
    }

    private static long micros(JsonNode n, String where, String field) {
        String v = ConfigValues.decimal(n, where, field, "0");
        try {
            return Micros.parse(v);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " must have at most 6 decimals, got \""
                    + v + "\"");
        }
    }

    /** {@code milestones: {name: percent, ...}} in order, whole percents summing to 100. */
    private static Map<String, Integer> milestones(JsonNode a, String where) {
        JsonNode m = a.get("milestones");
        Map<String, Integer> out = new LinkedHashMap<>();
        if (m == null || m.isNull()) {
            return out;
        }
        String path = ConfigValues.path(where, "milestones");
        if (!m.isObject()) {
            throw new IllegalArgumentException(path + " must be a mapping of milestone name to percent, got "
                    + ConfigValues.shown(m));
        }
        int sum = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int pct = (int) ConfigValues.integer(m, path, e.getKey(), 0, 1, 100);
            out.put(e.getKey(), pct);
            sum += pct;
        }
        if (sum != 100) {
            throw new IllegalArgumentException(path + " must add up to 100 percent, got " + sum);
        }
        return out;
    }
}
