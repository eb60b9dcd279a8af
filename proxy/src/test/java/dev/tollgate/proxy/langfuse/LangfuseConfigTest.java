package dev.tollgate.proxy.langfuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.langfuse.LangfuseConfig;
import dev.tollgate.escrow.settle.AccountPolicy;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import dev.tollgate.proxy.config.ConfigException;
import dev.tollgate.proxy.config.ConfigLoader;
import dev.tollgate.proxy.config.ProxyConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The {@code langfuse:} section and the accounts' Langfuse keys are read as strictly as the rest. */
class LangfuseConfigTest {
    private static final String UPSTREAM = "upstreams: [{url: \"http://127.0.0.1:8000/v1\"}]\n";

    @TempDir
    Path dir;

    private static String account(String body) {
        return "settlement:\n  prices: {\"*\": {prompt_per_million: \"1\"}}\n  accounts:\n    ag_1: {policy: per_request, "
                + body + "}\n";
    }

    static Stream<Arguments> badConfigs() {
        return Stream.of(
                Arguments.of("langfuse: {hots: \"https://cloud.langfuse.com\"}\n", "unknown key 'hots' in langfuse"),
                Arguments.of("langfuse: {host: \"ftp://x\"}\n", "langfuse.host must be an http or https URL"),
                Arguments.of("langfuse: {create_traces: \"yes\"}\n",
                        "langfuse.create_traces must be true or false, got \"yes\""),
                Arguments.of("langfuse: {poll_seconds: 0}\n",
                        "langfuse.poll_seconds must be an integer from 1 to 86400, got 0"),
                Arguments.of("langfuse: {batch_size: 5000}\n",
                        "langfuse.batch_size must be an integer from 1 to 1000, got 5000"),
                Arguments.of("langfuse: [1]\n", "langfuse must be a mapping, got a list"),
                Arguments.of(account("quality: {source: lf}"),
                        "settlement.accounts.ag_1.quality.source must be one of admin, langfuse, got \"lf\""),
                Arguments.of(account("quality: {threshold: \"1.5\"}"),
                        "settlement.accounts.ag_1.quality.threshold must be a decimal from 0 to 1, got \"1.5\""),
                Arguments.of(account("quality: {score_name: 7}"),
                        "settlement.accounts.ag_1.quality.score_name must be a string, got 7"),
                Arguments.of(account("tips: {score: x, table: {\"1\": \"1.00\"}}"),
                        "unknown key 'score' in settlement.accounts.ag_1.tips"),
                Arguments.of(account("tips: {table: {\"1\": \"one\"}}"),
                        "settlement.accounts.ag_1.tips.table.1 must be a non-negative decimal such as \"0.10\", got \"one\""),
                Arguments.of(account("tips: {table: {up: \"1.00\"}}"),
                        "settlement.accounts.ag_1.tips.table key \"up\" must be a score value"),
                Arguments.of(account("tips: {}"), "settlement.accounts.ag_1.tips.table must be a mapping"),
                Arguments.of(account("tips: {table: {\"1\": \"1.00\"}, max_per_trace: \"0.0000001\"}"),
                        "settlement.accounts.ag_1.tips.max_per_trace must have at most 6 decimals"));
    }

    @ParameterizedTest
    @MethodSource("badConfigs")
    void aBadValueIsRefusedWithItsPath(String yaml, String expected) throws Exception {
        Path f = dir.resolve("bad.yaml");
        Files.writeString(f, UPSTREAM + yaml);
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.validate(ConfigLoader.load(f)));
        assertTrue(e.getMessage().contains(expected), () -> "expected '" + expected + "' in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    @Test
    void aGoodConfigLoadsAndLangfuseScoresGateTheReleaseAtTheThreshold() throws Exception {
        Path f = dir.resolve("good.yaml");
        Files.writeString(f, UPSTREAM + "langfuse:\n  host: https://cloud.langfuse.com/\n  public_key: pk\n"
                + "  secret_key: sk\n  create_traces: true\n  poll_seconds: 5\n"
                + account("quality: {source: langfuse, score_name: quality, threshold: \"0.75\", deadline_seconds: 60, "
                + "default_score: \"0.8\"}, tips: {score_name: user_feedback, table: {\"1\": \"1.00\"}, "
                + "max_per_trace: \"1.00\"}"));
        ProxyConfig c = ConfigLoader.validate(ConfigLoader.load(f));
        LangfuseConfig lf = LangfuseConfig.read(c.langfuse());
        assertNotNull(lf);
        assertEquals("https://cloud.langfuse.com", lf.host());
        assertTrue(lf.createTraces());
        assertEquals(5_000, lf.pollMillis());
        assertFalse(lf.toString().contains("sk"), "keys never printed");
        AccountPolicy.Quality q = SettlementConfigReader.read(c.settlement(), dir).policyOf("ag_1").quality();
        assertTrue(q.gate(), "source: langfuse gates the release");
        assertEquals(7_500, q.partialBps(), "below the threshold refunds");
        assertEquals(9_000, q.fullBps());
        assertEquals(60_000, q.deadlineMillis());
        assertEquals(8_000, q.defaultScoreBps());
        // The section survives the config's copies.
        assertEquals(c.langfuse(), c.withListen("127.0.0.1:1").withDefaults().langfuse());
        assertEquals(new ObjectMapper().readTree("true"), c.langfuse().get("create_traces"));
    }

    @Test
    void withoutKeysTheBridgeRefusesToStart() {
        LangfuseConfig lf = LangfuseConfig.read(new ObjectMapper().createObjectNode()
                .put("public_key_env", "TOLLGATE_TEST_UNSET_VARIABLE").put("secret_key_env", "TOLLGATE_TEST_UNSET_2"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, lf::requireKeys);
        assertTrue(e.getMessage().contains("langfuse.public_key_env"), e.getMessage());
    }
}
