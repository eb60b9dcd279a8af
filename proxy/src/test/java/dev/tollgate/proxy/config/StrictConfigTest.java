package dev.tollgate.proxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.tollgate.cli.Main;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import dev.tollgate.proxy.TollgateNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A mistyped configuration is refused with a message that names the key's full path and what it accepts;
 * nothing falls back to a default silently. The faucet and gRPC are off unless configured.
 */
class StrictConfigTest {
    private static final String UPSTREAM = "upstreams: [{url: \"http://127.0.0.1:8000/v1\"}]\n";

    @TempDir
    Path dir;

    private static String account(String body) {
        return "settlement:\n  accounts:\n    ag_1: {" + body + "}\n";
    }

    static Stream<Arguments> badConfigs() {
        return Stream.of(
                Arguments.of(account("batch_calls: 1O0"),
                        "settlement.accounts.ag_1.batch_calls must be a non-negative integer, got \"1O0\""),
                Arguments.of(account("batch_seconds: \"60\""),
                        "settlement.accounts.ag_1.batch_seconds must be an integer from 0 to 31536000, got \"60\""),
                Arguments.of(account("batch_tokens: -5"),
                        "settlement.accounts.ag_1.batch_tokens must be a non-negative integer, got -5"),
                Arguments.of(account("default_max_tokens: 10.5"),
                        "settlement.accounts.ag_1.default_max_tokens must be an integer from 1 to 100000000, got 10.5"),
                Arguments.of(account("when_exhausted: nxt_escrow"),
                        "settlement.accounts.ag_1.when_exhausted must be one of next_escrow, deny, got \"nxt_escrow\""),
                Arguments.of(account("on_disconnect: refnd"),
                        "settlement.accounts.ag_1.on_disconnect must be one of pay, refund, got \"refnd\""),
                Arguments.of(account("policy: per-request"),
                        "settlement.accounts.ag_1.policy must be one of none, per_request, stream_budget, per_call, subscription, hybrid, milestone, got \"per-request\""),
                Arguments.of(account("policy: 1"),
                        "settlement.accounts.ag_1.policy must be one of none, per_request, stream_budget, per_call, subscription, hybrid, milestone, got 1"),
                Arguments.of(account("fund: five"),
                        "settlement.accounts.ag_1.fund must be a non-negative decimal such as \"0.10\", got \"five\""),
                Arguments.of(account("budget: \"-2.00\""),
                        "settlement.accounts.ag_1.budget must be a non-negative decimal such as \"0.10\", got \"-2.00\""),
                Arguments.of(account("quality: {gate: 1}"),
                        "settlement.accounts.ag_1.quality.gate must be true or false, got 1"),
                Arguments.of(account("quality: {default_score: \"1.5\"}"),
                        "settlement.accounts.ag_1.quality.default_score must be a decimal from 0 to 1, got \"1.5\""),
                Arguments.of(account("throughput_bonus: {pct: \"5%\"}"),
                        "settlement.accounts.ag_1.throughput_bonus.pct must be an integer from 0 to 1000, got \"5%\""),
                Arguments.of(account("throughput_bonus: {percent: 5}"),
                        "unknown key 'percent' in settlement.accounts.ag_1.throughput_bonus"),
                Arguments.of(account("referer: ag_ref"), "unknown key 'referer' in settlement.accounts.ag_1"),
                Arguments.of("settlement: {expiry: refunded}\n",
                        "settlement.expiry must be one of refund, release, got \"refunded\""),
                Arguments.of("settlement: {backend: embeded}\n",
                        "settlement.backend must be one of embedded, purpleflea, got \"embeded\""),
                Arguments.of("settlement: {fee_bps: 1.5}\n",
                        "settlement.fee_bps must be an integer from 0 to 10000, got 1.5"),
                Arguments.of("settlement: {referrer_share_bps: 20000}\n",
                        "settlement.referrer_share_bps must be an integer from 0 to 10000, got 20000"),
                Arguments.of("settlement: {auto_release_hours: 0}\n",
                        "settlement.auto_release_hours must be an integer from 1 to 87600, got 0"),
                Arguments.of("settlement: {faucet: \"yes\"}\n", "settlement.faucet must be true or false, got \"yes\""),
                Arguments.of("settlement: {min_lock: \"0.0000001\"}\n",
                        "settlement.min_lock must have at most 6 decimals, got \"0.0000001\""),
                Arguments.of("settlement: {prices: {m1: {prompt_per_million: abc}}}\n",
                        "settlement.prices.m1.prompt_per_million must be a non-negative decimal such as \"0.10\", got \"abc\""),
                Arguments.of("settlement: {accounts: [ag_1]}\n", "settlement.accounts must be a mapping, got a list"),
                Arguments.of("limits: {idle_timeout_ms: 60s}\n",
                        "limits.idle_timeout_ms must be a positive integer, got \"60s\""),
                Arguments.of("limits: {max_request_body_bytes: -1}\n",
                        "limits.max_request_body_bytes must be a positive integer, got -1"),
                Arguments.of("limits: {metering_queue: 65536.5}\n",
                        "limits.metering_queue must be an integer from 2 to 1073741824, got 65536.5"),
                Arguments.of("limits: {connect_timeout_ms: 9999999999}\n",
                        "limits.connect_timeout_ms must be a positive integer, got 9999999999"),
                Arguments.of("limits: {write_buffer_low_bytes: 100000, write_buffer_high_bytes: 65536}\n",
                        "limits.write_buffer_low_bytes (100000) must not exceed limits.write_buffer_high_bytes (65536)"),
                Arguments.of("limits: {idle_timeout: 5}\n", "unknown key 'idle_timeout' in limits"),
                Arguments.of("listn: 127.0.0.1:8080\n", "unknown key 'listn' in the configuration"),
                Arguments.of("listen: 8080\n", "listen must be a string, got 8080"),
                Arguments.of("grpc: false\n", "grpc must be HOST:PORT or \"off\" (quoted), got false"),
                Arguments.of("metrics: {models: [7]}\n", "metrics.models[0] must be a string, got 7"),
                Arguments.of("grpc: 0.0.0.0:9091\n",
                        "grpc: 0.0.0.0:9091 is not a loopback address and admin_token is not set"));
    }

    private Path write(String yaml) throws Exception {
        Path f = dir.resolve("bad.yaml");
        Files.writeString(f, yaml);
        return f;
    }

    @ParameterizedTest
    @MethodSource("badConfigs")
    void aBadValueIsRefusedWithItsPath(String yaml, String expected) throws Exception {
        Path f = write(UPSTREAM + yaml);
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.validate(ConfigLoader.load(f)));
        assertTrue(e.getMessage().contains(expected), () -> "expected '" + expected + "' in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    @Test
    void badUpstreamBooleanNamesItsIndex() throws Exception {
        Path f = write("upstreams:\n  - url: \"http://127.0.0.1:8000/v1\"\n  - url: \"http://127.0.0.1:8001/v1\"\n"
                + "    continuous_usage: \"no\"\n");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(f));
        assertTrue(e.getMessage().contains("upstreams[1].continuous_usage must be true or false, got \"no\""),
                e.getMessage());
    }

    @Test
    void aConfigBuiltInCodeIsCheckedToo() {
        ProxyConfig c = ProxyConfig.empty().withUpstreams(List.of(UpstreamConfig.of("http://127.0.0.1:8000/v1")))
                .withLimits(ProxyConfig.Limits.defaults().withIdleTimeoutMillis(0));
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.validate(c));
        assertTrue(e.getMessage().contains("limits.idle_timeout_ms must be a positive integer, got 0"),
                e.getMessage());
    }

    @Test
    void aGoodConfigStillLoads() throws Exception {
        Path f = write(UPSTREAM + "grpc: 0.0.0.0:9091\nadmin_token: t0ken\nlimits: {idle_timeout_ms: 5000}\n"
                + "metrics: {models: [llama-3]}\n"
                + account("policy: stream_budget, budget: \"2.00\", batch_calls: 10, when_exhausted: deny, "
                        + "on_disconnect: refund, quality: {gate: true, default_score: \"0.9\"}")
                + "  faucet: true\n  fee_bps: 100\n  min_lock: 0.25\n"
                + "  prices: {\"*\": {prompt_per_million: \"0.15\", completion_per_million: \"0.60\"}}\n");
        ProxyConfig c = ConfigLoader.validate(ConfigLoader.load(f));
        assertEquals(5000, c.limits().idleTimeoutMillis());
        assertEquals(List.of("llama-3"), c.metricsModels());
        var sc = SettlementConfigReader.read(c.settlement(), dir);
        assertTrue(sc.faucet());
        assertEquals(250_000, sc.minLockMicros());
        var p = sc.policyOf("ag_1");
        assertFalse(p.openNextEscrow(), "deny");
        assertFalse(p.payOnDisconnect(), "refund");
        assertEquals(10, p.batchCalls());
        assertEquals(2_000_000, p.budgetMicros());
        assertEquals(9_000, p.quality().defaultScoreBps());
    }

    @Test
    void faucetAndGrpcAreOffUnlessConfigured() throws Exception {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
        assertFalse(SettlementConfigReader.read(yaml.readTree("fee_bps: 100"), dir).faucet());
        assertFalse(SettlementConfigReader.read(null, dir).faucet());
        ProxyConfig c = ProxyConfig.empty().withListen("127.0.0.1:0").withAdmin("127.0.0.1:0")
                .withDataDir(dir.toString()).withUpstreams(List.of(UpstreamConfig.of("http://127.0.0.1:9/v1")));
        try (TollgateNode node = TollgateNode.start(c)) {
            assertEquals(-1, node.grpcPort(), "no gRPC without an address");
        }
        try (TollgateNode node = TollgateNode.start(c.withGrpc("127.0.0.1:0"))) {
            assertTrue(node.grpcPort() > 0, "gRPC on loopback without a token is allowed");
        }
    }

    @Test
    void serveWithABadConfigExitsNonZeroWithOneLine() throws Exception {
        Path f = write(UPSTREAM + account("batch_calls: 1O0"));
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = Main.run("serve", "--config", f.toString(), "--data", dir.toString());
        } finally {
            System.setErr(saved);
        }
        String out = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code);
        assertEquals(1, out.strip().lines().count(), out);
        assertTrue(out.startsWith("tollgate: "), out);
        assertTrue(out.contains("settlement.accounts.ag_1.batch_calls must be a non-negative integer, got \"1O0\""), out);
    }
}
