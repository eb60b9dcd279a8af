package dev.tollgate.escrow.settle;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * Reads the {@code settlement:} section of the configuration. Amounts and prices are decimal strings (never
 * binary floats); an unknown key is an error. Stateless.
 *
 * <pre>
 * settlement:
 *   backend: embedded                 # or purpleflea (purpleflea_url, purpleflea_api_key_env)
 *   fee_bps: 100
 *   referrer_share_bps: 1500
 *   min_lock: "0.10"
 *   auto_release_hours: 24
 *   expiry: refund                    # or release
 *   faucet: true
 *   prices:
 *     "*": {prompt_per_million: "0.15", completion_per_million: "0.60", per_request: "0", per_second: "0"}
 *   accounts:
 *     ag_orchestrator_1:
 *       policy: per_request           # or stream_budget, none
 *       referrer: ag_ref
 *       fund: "5.00"
 *       on_disconnect: pay            # or refund
 *       default_max_tokens: 1024
 *       budget: "2.00"                # stream_budget
 *       batch_calls: 100
 *       batch_tokens: 0
 *       batch_seconds: 60
 *       when_exhausted: next_escrow   # or deny
 *       throughput_bonus: {min_tokens_per_second: "100", pct: 5}
 *       quality: {gate: false, deadline_seconds: 300, default_score: "0.9", bonus_above: "0.9", bonus_pct: 10}
 *       unmetered_routes: deny        # or pass; default deny for per_request/stream_budget, pass for none
 * </pre>
 */
public final class SettlementConfigReader {
    private SettlementConfigReader() {
    }

    /** Reads the section; null or missing means metering only (no settlement). */
    public static SettlementConfig read(JsonNode node, Path dataDir) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return SettlementConfig.disabled(dataDir);
        }
        only(node, "settlement", Set.of("backend", "purpleflea_url", "purpleflea_api_key", "purpleflea_api_key_env",
                "fee_bps", "referrer_share_bps", "min_lock", "auto_release_hours", "expiry", "faucet", "prices",
                "accounts"));
        String backend = text(node, "backend", "embedded");
        if (!backend.equals("embedded") && !backend.equals("purpleflea")) {
            throw new IllegalArgumentException("settlement.backend must be embedded or purpleflea");
        }
        String key = text(node, "purpleflea_api_key", null);
        if (key == null && node.hasNonNull("purpleflea_api_key_env")) {
            key = System.getenv(node.get("purpleflea_api_key_env").asText());
        }
        String expiry = text(node, "expiry", "refund");
        if (!expiry.equals("refund") && !expiry.equals("release")) {
            throw new IllegalArgumentException("settlement.expiry must be refund or release");
        }
        Map<String, Price> prices = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = fields(node, "prices"); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode p = e.getValue();
            only(p, "prices." + e.getKey(), Set.of("prompt_per_million", "completion_per_million", "per_request",
                    "per_second"));
            prices.put(e.getKey(), Price.of(text(p, "prompt_per_million", "0"), text(p, "completion_per_million", "0"),
                    text(p, "per_request", null), text(p, "per_second", null)));
        }
        Map<String, AccountPolicy> accounts = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = fields(node, "accounts"); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            accounts.put(e.getKey(), account(e.getKey(), e.getValue()));
        }
        return new SettlementConfig(dataDir, backend, text(node, "purpleflea_url", null), key,
                new Fees(node.path("fee_bps").asInt(100), node.path("referrer_share_bps").asInt(1500)),
                Micros.parse(text(node, "min_lock", "0.10")),
                Math.max(1, node.path("auto_release_hours").asLong(24)) * 3_600_000L, expiry.equals("refund"),
                node.path("faucet").asBoolean(true), Map.copyOf(prices), Map.copyOf(accounts));
    }

    private static AccountPolicy account(String name, JsonNode a) {
        String where = "accounts." + name;
        only(a, where, Set.of("policy", "referrer", "fund", "on_disconnect", "default_max_tokens", "budget",
                "batch_calls", "batch_tokens", "batch_seconds", "when_exhausted", "throughput_bonus", "quality",
                "unmetered_routes"));
        PolicyKind kind = switch (text(a, "policy", "none")) {
            case "none" -> PolicyKind.NONE;
            case "per_request" -> PolicyKind.PER_REQUEST;
            case "stream_budget" -> PolicyKind.STREAM_BUDGET;
            default -> throw new IllegalArgumentException(where + ".policy must be none, per_request or stream_budget");
        };
        String unmetered = text(a, "unmetered_routes", kind == PolicyKind.NONE ? "pass" : "deny");
        if (!unmetered.equals("deny") && !unmetered.equals("pass")) {
            throw new IllegalArgumentException(where + ".unmetered_routes must be deny or pass");
        }
        JsonNode tb = a.path("throughput_bonus");
        JsonNode q = a.path("quality");
        if (!q.isMissingNode()) {
            only(q, where + ".quality", Set.of("gate", "deadline_seconds", "default_score", "bonus_above", "bonus_pct",
                    "full_at", "partial_at", "partial_pct"));
        }
        AccountPolicy.Quality quality = new AccountPolicy.Quality(q.path("gate").asBoolean(false),
                q.path("deadline_seconds").asLong(300) * 1000, bps(text(q, "default_score", "1.0")),
                bps(text(q, "bonus_above", "0.9")), q.path("bonus_pct").asInt(10), bps(text(q, "full_at", "0.9")),
                bps(text(q, "partial_at", "0.7")), q.path("partial_pct").asInt(70));
        return new AccountPolicy(kind, text(a, "referrer", null), Micros.parse(text(a, "fund", "0")),
                !text(a, "on_disconnect", "pay").equals("refund"), a.path("default_max_tokens").asLong(1024),
                Micros.parse(text(a, "budget", "1.00")), a.path("batch_calls").asInt(100),
                a.path("batch_tokens").asLong(0), a.path("batch_seconds").asLong(60) * 1000,
                !text(a, "when_exhausted", "next_escrow").equals("deny"),
                tb.isMissingNode() ? 0 : Micros.parse(text(tb, "min_tokens_per_second", "100")) / 1000,
                tb.path("pct").asInt(5), quality, unmetered.equals("deny"));
    }

    /** A decimal score in [0, 1] as basis points. */
    public static int bps(String score) {
        java.math.BigDecimal d = new java.math.BigDecimal(score.trim());
        if (d.signum() < 0 || d.compareTo(java.math.BigDecimal.ONE) > 0) {
            throw new IllegalArgumentException("a score is a decimal between 0 and 1: " + score);
        }
        return d.movePointRight(4).setScale(0, java.math.RoundingMode.DOWN).intValueExact();
    }

    private static String text(JsonNode n, String field, String dflt) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    private static Iterator<Map.Entry<String, JsonNode>> fields(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || !v.isObject() ? java.util.Collections.emptyIterator() : v.fields();
    }

    private static void only(JsonNode n, String where, Set<String> allowed) {
        if (!n.isObject()) {
            throw new IllegalArgumentException(where + " must be a mapping");
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!allowed.contains(f)) {
                throw new IllegalArgumentException("unknown key '" + f + "' in " + where);
            }
        }
    }
}
