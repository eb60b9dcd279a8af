package dev.tollgate.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import java.util.List;

/** Accounts, keys and prices for tests where requests are paid. */
public final class PaidSetup {
    public static final String PAY_KEY = "sk-pay";
    public static final String PAYER = "ag_payer";
    public static final String STREAM_KEY = "sk-stream";
    public static final String STREAMER = "ag_streamer";
    public static final String POOR_KEY = "sk-poor";
    public static final String POOR = "ag_poor";
    public static final String WORKER = "worker-1";
    public static final String ADMIN_TOKEN = "admin-secret";
    /** 0.001 USDC per prompt token, 0.003 per completion token: easy to check by hand. */
    public static final long PICO_PROMPT = 1_000_000_000L;
    public static final long PICO_COMPLETION = 3_000_000_000L;

    private PaidSetup() {
    }

    public static ProxyConfig apply(ProxyConfig c) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode s = m.createObjectNode();
        s.putObject("prices").putObject("*").put("prompt_per_million", "1000").put("completion_per_million", "3000");
        ObjectNode accounts = s.putObject("accounts");
        ObjectNode pay = accounts.putObject(PAYER).put("policy", "per_request").put("fund", "10.00")
                .put("referrer", "ag_ref");
        pay.putObject("throughput_bonus").put("min_tokens_per_second", "1").put("pct", 5);
        accounts.putObject(STREAMER).put("policy", "stream_budget").put("fund", "10.00").put("budget", "2.00")
                .put("batch_calls", 3).put("batch_seconds", 3600);
        accounts.putObject(POOR).put("policy", "per_request").put("fund", "0.05");
        return c.withSettlement(s).withAdminToken(ADMIN_TOKEN).withApiKeys(List.of(
                new ApiKeyConfig(ApiKeys.hash(PAY_KEY), PAYER), new ApiKeyConfig(ApiKeys.hash(STREAM_KEY), STREAMER),
                new ApiKeyConfig(ApiKeys.hash(POOR_KEY), POOR)));
    }

    /** What a request's tokens cost at these prices, in micro-USDC (rounded down once). */
    public static long cost(long prompt, long completion) {
        return (prompt * PICO_PROMPT + completion * PICO_COMPLETION) / 1_000_000L;
    }
}
