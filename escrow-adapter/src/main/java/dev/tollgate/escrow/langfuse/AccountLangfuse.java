package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.ConfigValues;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import java.math.BigDecimal;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An account's Langfuse settings, from its {@code settlement.accounts.<id>} entry: whether its quality release
 * waits for Langfuse scores ({@code quality: {source: langfuse, score_name, threshold}}) and which feedback
 * scores tip the worker ({@code tips: {score_name, table, max_per_trace}}). Immutable.
 *
 * @param scoresFromLangfuse the release waits for Langfuse scores named {@code qualityScoreName}
 * @param qualityScoreName   the score whose average decides the release
 * @param thresholdBps       below this average the request is refunded (basis points), or -1 when not set
 * @param tips               tips on feedback, or null
 */
public record AccountLangfuse(boolean scoresFromLangfuse, String qualityScoreName, int thresholdBps, Tips tips) {
    static final AccountLangfuse NONE = new AccountLangfuse(false, "quality", -1, null);

    /**
     * Tips on feedback.
     *
     * @param scoreName       the feedback score's name
     * @param table           score value (plain decimal text, trailing zeros stripped) to tip in micro-USDC
     * @param maxPerTraceMicros the most all tips of one trace may pay together
     */
    public record Tips(String scoreName, Map<String, Long> table, long maxPerTraceMicros) {
        /** The tip for a score value, or 0. */
        public long tipFor(BigDecimal value) {
            Long t = table.get(key(value));
            return t == null ? 0 : t;
        }
    }

    /** The table key of a score value: {@code 1}, {@code 1.0} and {@code 1.00} are the same key. */
    static String key(BigDecimal v) {
        BigDecimal s = v.stripTrailingZeros();
        return (s.scale() < 0 ? s.setScale(0) : s).toPlainString();
    }

    /** Checks the {@code source}, {@code score_name} and {@code threshold} keys of a {@code quality} mapping. */
    public static void checkQuality(JsonNode q, String where) {
        ConfigValues.oneOf(q, where, "source", "admin", List.of("admin", "langfuse"));
        ConfigValues.string(q, where, "score_name", "quality");
        threshold(q, where);
    }

    /** Whether a {@code quality} mapping makes the release wait for Langfuse scores. */
    public static boolean fromLangfuse(JsonNode q) {
        return q != null && q.isObject() && "langfuse".equals(q.path("source").asText(""));
    }

    /** The {@code threshold} of a {@code quality} mapping in basis points, or -1 when absent. */
    public static int threshold(JsonNode q, String where) {
        String t = ConfigValues.decimal(q, where, "threshold", null);
        if (t == null) {
            return -1;
        }
        try {
            return SettlementConfigReader.bps(t);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException(ConfigValues.path(where, "threshold")
                    + " must be a decimal from 0 to 1, got \"" + t + "\"");
        }
    }

    /** Reads (and so checks) a {@code tips} mapping; null when absent. */
    public static Tips tips(JsonNode t, String where) {
        if (t == null || t.isNull()) {
            return null;
        }
        ConfigValues.only(t, where, Set.of("score_name", "table", "max_per_trace"));
        String name = ConfigValues.string(t, where, "score_name", "user_feedback");
        Map<String, Long> table = new HashMap<>();
        JsonNode tab = t.get("table");
        if (tab == null || !tab.isObject()) {
            throw new IllegalArgumentException(where + ".table must be a mapping of score value to tip, such as "
                    + "{\"1\": \"1.00\"}");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = tab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            BigDecimal value;
            try {
                value = new BigDecimal(e.getKey().trim());
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException(where + ".table key \"" + e.getKey() + "\" must be a score value "
                        + "(a number)");
            }
            table.put(key(value), micros(tab, where + ".table", e.getKey(), null));
        }
        return new Tips(name, Map.copyOf(table), micros(t, where, "max_per_trace", "1.00"));
    }

    private static long micros(JsonNode n, String where, String field, String dflt) {
        String v = ConfigValues.decimal(n, where, field, dflt);
        if (v == null) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " is required");
        }
        try {
            return Micros.parse(v);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " must have at most 6 decimals, got \""
                    + v + "\"");
        }
    }

    /** Every account's settings from a {@code settlement:} tree (already checked by the settlement reader). */
    public static Map<String, AccountLangfuse> readAll(JsonNode settlement) {
        Map<String, AccountLangfuse> out = new HashMap<>();
        JsonNode accounts = settlement == null ? null : settlement.get("accounts");
        if (accounts == null || !accounts.isObject()) {
            return Map.of();
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = accounts.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String where = "settlement.accounts." + e.getKey();
            JsonNode q = e.getValue().get("quality");
            boolean lf = fromLangfuse(q);
            String name = q == null || q.isNull() ? "quality" : ConfigValues.string(q, where + ".quality", "score_name",
                    "quality");
            int threshold = q == null || q.isNull() ? -1 : threshold(q, where + ".quality");
            Tips tips = tips(e.getValue().get("tips"), where + ".tips");
            out.put(e.getKey(), new AccountLangfuse(lf, name, threshold, tips));
        }
        return Map.copyOf(out);
    }

    /** The settings of an account: its own entry, else the {@code "*"} entry, else none. */
    static AccountLangfuse of(Map<String, AccountLangfuse> all, String account) {
        AccountLangfuse a = all.get(account);
        return a != null ? a : all.getOrDefault("*", NONE);
    }
}
