package dev.tollgate.escrow.settle;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.langfuse.AccountLangfuse;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the {@code settlement:} section of the configuration. Amounts and prices are decimal strings (never
 * binary floats); an unknown key is an error. Stateless.
 *
 * <pre>
 * settlement:
 *   backend: embedded                 # or purpleflea (purpleflea_url, purpleflea_api_key_env,
 *                                     #   purpleflea_escrow_timeout_hours; per account purpleflea_api_key_env)
 *   fee_bps: 100
 *   referrer_share_bps: 1500
 *   min_lock: "0.10"
 *   auto_release_hours: 24
 *   expiry: refund                    # or release
 *   faucet: false                     # the dev faucet (1 USDC per agent); off unless true
 *   durability: process               # or power (fsync per commit: survives a power cut, costs latency)
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
 *                                     # Langfuse: source: langfuse, score_name: quality, threshold: "0.75"
 *       tips: {score_name: user_feedback, table: {"1": "1.00"}, max_per_trace: "1.00"}   # Langfuse feedback
 *       unmetered_routes: deny        # or pass; default deny for per_request/stream_budget, pass for none
 *     ag_caller: {policy: per_call, call_price: "0.001"}
 *     ag_subscriber: {policy: subscription, period_price: "10.00", period_hours: 168, quota: 1000}
 *     ag_hybrid: {policy: hybrid, period_price: "5.00", period_hours: 168, quota: 1000, overage_price: "0.01",
 *                 overage_pool: "5.00"}
 *     ag_project: {policy: milestone, period_price: "10.00", period_hours: 720,
 *                  milestones: {spec_approved: 25, draft_delivered: 50, final_accepted: 25}}
 * </pre>
 */
public final class SettlementConfigReader {
    private SettlementConfigReader() {
    }

    private static final String ROOT = "settlement";
    private static final long MAX_HOURS = 24L * 365 * 10;
    private static final long MAX_SECONDS = 365L * 24 * 3600;

    /**
     * Reads the section; null or missing means metering only (no settlement). Every error names the key's
     * full path ({@code settlement.accounts.ag_1.batch_calls must be a non-negative integer, got "1O0"}).
     */
    public static SettlementConfig read(JsonNode node, Path dataDir) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return SettlementConfig.disabled(dataDir);
        }
        ConfigValues.only(node, ROOT, Set.of("backend", "purpleflea_url", "purpleflea_api_key",
                "purpleflea_api_key_env", "fee_bps", "referrer_share_bps", "min_lock", "auto_release_hours", "expiry",
                "faucet", "durability", "prices", "accounts", "purpleflea_escrow_timeout_hours"));
        String backend = ConfigValues.oneOf(node, ROOT, "backend", "embedded", List.of("embedded", "purpleflea"));
        if (backend.equals("purpleflea")) {
            // Purple Flea backend: its own keys are read by PurpleFleaSettings; the embedded ledger's are errors.
            dev.tollgate.escrow.purpleflea.PurpleFleaSettings.rejectInapplicable(node);
        }
        String key = ConfigValues.string(node, ROOT, "purpleflea_api_key", null);
        String keyEnv = ConfigValues.string(node, ROOT, "purpleflea_api_key_env", null);
        if (key == null && keyEnv != null) {
            key = System.getenv(keyEnv);
        }
        String url = ConfigValues.string(node, ROOT, "purpleflea_url", null);
        boolean refund = ConfigValues.oneOf(node, ROOT, "expiry", "refund", List.of("refund", "release"))
                .equals("refund");
        Fees fees = new Fees(ConfigValues.intValue(node, ROOT, "fee_bps", 100, 0, 10_000),
                ConfigValues.intValue(node, ROOT, "referrer_share_bps", 1500, 0, 10_000));
        long minLock = micros(node, ROOT, "min_lock", "0.10");
        long hours = ConfigValues.integer(node, ROOT, "auto_release_hours", 24, 1, MAX_HOURS);
        boolean faucet = ConfigValues.bool(node, ROOT, "faucet", false);
        Database.Durability durability = ConfigValues.oneOf(node, ROOT, "durability", "process",
                List.of("process", "power")).equals("power") ? Database.Durability.POWER : Database.Durability.PROCESS;
        Map<String, Price> prices = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = fields(node, ROOT, "prices"); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            prices.put(e.getKey(), price(ROOT + ".prices." + e.getKey(), e.getValue()));
        }
        Map<String, AccountPolicy> accounts = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = fields(node, ROOT, "accounts"); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            accounts.put(e.getKey(), account(ROOT + ".accounts." + e.getKey(), e.getValue()));
        }
        return new SettlementConfig(dataDir, backend, url, key, fees, minLock, hours * 3_600_000L, refund, faucet,
                Map.copyOf(prices), Map.copyOf(accounts), durability);
    }

    /**
     * The models the operator priced explicitly (the keys of {@code settlement.prices} other than {@code "*"}),
     * read leniently: an empty set when the section is absent or not a mapping ({@link #read} reports that).
     */
    public static Set<String> pricedModels(JsonNode node) {
        Set<String> models = new java.util.HashSet<>();
        JsonNode prices = node == null ? null : node.get("prices");
        if (prices != null && prices.isObject()) {
            prices.fieldNames().forEachRemaining(models::add);
        }
        models.remove("*");
        return Set.copyOf(models);
    }

    private static Price price(String where, JsonNode p) {
        ConfigValues.only(p, where, Set.of("prompt_per_million", "completion_per_million", "per_request",
                "per_second"));
        String prompt = ConfigValues.decimal(p, where, "prompt_per_million", "0");
        String completion = ConfigValues.decimal(p, where, "completion_per_million", "0");
        String perRequest = ConfigValues.decimal(p, where, "per_request", null);
        String perSecond = ConfigValues.decimal(p, where, "per_second", null);
        try {
            return Price.of(prompt, completion, perRequest, perSecond);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage());
        }
    }

    private static AccountPolicy account(String where, JsonNode a) {
        ConfigValues.only(a, where, Set.of("policy", "referrer", "fund", "on_disconnect", "default_max_tokens", "budget",
                "batch_calls", "batch_tokens", "batch_seconds", "when_exhausted", "throughput_bonus", "quality",
                "unmetered_routes", "purpleflea_api_key_env", "tips",
                // RunPod jobs: read by the proxy's runpod package (JobTerms), checked there at start-up.
                "job_budget", "max_job_budget", "job_partial", "job_bonus",
                // Billing patterns (BillingPatternReader).
                "call_price", "period_price", "period_hours", "quota", "overage_price", "overage_pool", "milestones"));
        AccountLangfuse.tips(a.get("tips"), where + ".tips"); // Langfuse tips: checked here, used by the bridge
        PolicyKind kind = switch (ConfigValues.oneOf(a, where, "policy", "none",
                List.of("none", "per_request", "stream_budget", "per_call", "subscription", "hybrid", "milestone"))) {
            case "per_request" -> PolicyKind.PER_REQUEST;
            case "stream_budget" -> PolicyKind.STREAM_BUDGET;
            case "per_call" -> PolicyKind.PER_CALL;
            case "subscription" -> PolicyKind.SUBSCRIPTION;
            case "hybrid" -> PolicyKind.HYBRID;
            case "milestone" -> PolicyKind.MILESTONE;
            default -> PolicyKind.NONE;
        };
        JsonNode tb = a.get("throughput_bonus");
        String tbWhere = where + ".throughput_bonus";
        if (tb != null && !tb.isNull()) {
            ConfigValues.only(tb, tbWhere, Set.of("min_tokens_per_second", "pct"));
        }
        boolean hasBonus = tb != null && !tb.isNull();
        JsonNode q = a.get("quality");
        String qWhere = where + ".quality";
        if (q != null && !q.isNull()) {
            ConfigValues.only(q, qWhere, Set.of("gate", "deadline_seconds", "default_score", "bonus_above", "bonus_pct",
                    "full_at", "partial_at", "partial_pct", "source", "score_name", "threshold"));
            AccountLangfuse.checkQuality(q, qWhere);
        }
        // Langfuse: scores from Langfuse always gate the release; the threshold is the lowest score that pays.
        int threshold = q == null || q.isNull() ? -1 : AccountLangfuse.threshold(q, qWhere);
        AccountPolicy.Quality quality = new AccountPolicy.Quality(ConfigValues.bool(q, qWhere, "gate", false)
                || AccountLangfuse.fromLangfuse(q),
                ConfigValues.integer(q, qWhere, "deadline_seconds", 300, 0, MAX_SECONDS) * 1000,
                score(q, qWhere, "default_score", "1.0"), score(q, qWhere, "bonus_above", "0.9"),
                ConfigValues.intValue(q, qWhere, "bonus_pct", 10, 0, 1000), score(q, qWhere, "full_at", "0.9"),
                threshold >= 0 ? threshold : score(q, qWhere, "partial_at", "0.7"),
                ConfigValues.intValue(q, qWhere, "partial_pct", 70, 0, 100));
        return new AccountPolicy(kind, ConfigValues.string(a, where, "referrer", null), micros(a, where, "fund", "0"),
                ConfigValues.oneOf(a, where, "on_disconnect", "pay", List.of("pay", "refund")).equals("pay"),
                ConfigValues.integer(a, where, "default_max_tokens", 1024, 1, 100_000_000),
                micros(a, where, "budget", "1.00"),
                ConfigValues.intValue(a, where, "batch_calls", 100, 0, Integer.MAX_VALUE),
                ConfigValues.integer(a, where, "batch_tokens", 0, 0, Long.MAX_VALUE),
                ConfigValues.integer(a, where, "batch_seconds", 60, 0, MAX_SECONDS) * 1000,
                ConfigValues.oneOf(a, where, "when_exhausted", "next_escrow", List.of("next_escrow", "deny"))
                        .equals("next_escrow"),
                hasBonus ? micros(tb, tbWhere, "min_tokens_per_second", "100") / 1000 : 0,
                ConfigValues.intValue(tb, tbWhere, "pct", 5, 0, 1000), quality,
                ConfigValues.oneOf(a, where, "unmetered_routes", kind == PolicyKind.NONE ? "pass" : "deny",
                        List.of("deny", "pass")).equals("deny"), BillingPatternReader.read(a, where, kind));
    }

    /** An amount in USDC (at most 6 decimals) as micro-USDC. */
    private static long micros(JsonNode n, String where, String field, String dflt) {
        String v = ConfigValues.decimal(n, where, field, dflt);
        try {
            return Micros.parse(v);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " must have at most 6 decimals, got \""
                    + v + "\"");
        }
    }

    /** A score in [0, 1] as basis points. */
    private static int score(JsonNode n, String where, String field, String dflt) {
        String v = ConfigValues.decimal(n, where, field, dflt);
        try {
            return bps(v);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " must be a decimal from 0 to 1, got \""
                    + v + "\"");
        }
    }

    /** A decimal score in [0, 1] as basis points. */
    public static int bps(String score) {
        java.math.BigDecimal d = new java.math.BigDecimal(score.trim());
        if (d.signum() < 0 || d.compareTo(java.math.BigDecimal.ONE) > 0) {
            throw new IllegalArgumentException("a score is a decimal between 0 and 1: " + score);
        }
        return d.movePointRight(4).setScale(0, java.math.RoundingMode.DOWN).intValueExact();
    }

    private static Iterator<Map.Entry<String, JsonNode>> fields(JsonNode n, String where, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return java.util.Collections.emptyIterator();
        }
        if (!v.isObject()) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " must be a mapping, got "
                    + ConfigValues.shown(v));
        }
        return v.fields();
    }
}
