package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.settle.ConfigValues;
import java.net.URI;
import java.util.Set;

/**
 * The top-level {@code langfuse:} section. Read strictly: an unknown key or a value of the wrong kind is an
 * error naming its full path. Immutable.
 *
 * <pre>
 * langfuse:
 *   host: https://cloud.langfuse.com
 *   public_key_env: LANGFUSE_PUBLIC_KEY   # or public_key (tests)
 *   secret_key_env: LANGFUSE_SECRET_KEY   # or secret_key (tests)
 *   create_traces: false                  # a request without a trace gets one whose id is its request id
 *   poll_seconds: 10                      # how often scores are read
 *   poll_overlap_seconds: 600             # each poll re-reads this far behind its high-water mark
 *   flush_ms: 1000                        # how often the outbox of ingestion events is sent
 *   batch_size: 100                       # events per ingestion call
 *   watch_hours: 24                       # how long after a request its trace is kept up to date and scored
 *   timeout_ms: 10000                     # per HTTP call
 * </pre>
 *
 * @param host          base URL of the Langfuse server (no trailing slash)
 * @param publicKey     the public key (Basic auth user), resolved from the environment when named so
 * @param secretKey     the secret key (Basic auth password)
 * @param createTraces  a request that names no trace gets a trace with its request id
 * @param pollMillis    score polling interval
 * @param overlapMillis how far behind the high-water mark each poll starts
 * @param flushMillis   outbox send interval
 * @param batchSize     events per ingestion call
 * @param watchMillis   how long after settling a request its trace keeps being written and its scores read
 * @param timeoutMillis per HTTP call
 */
public record LangfuseConfig(String host, String publicKey, String secretKey, boolean createTraces, long pollMillis,
                             long overlapMillis, long flushMillis, int batchSize, long watchMillis,
                             long timeoutMillis) {
    private static final String ROOT = "langfuse";

    /** Reads the section; null when it is absent (no Langfuse). */
    public static LangfuseConfig read(JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return null;
        }
        ConfigValues.only(n, ROOT, Set.of("host", "public_key", "public_key_env", "secret_key", "secret_key_env",
                "create_traces", "poll_seconds", "poll_overlap_seconds", "flush_ms", "batch_size", "watch_hours",
                "timeout_ms"));
        String host = ConfigValues.string(n, ROOT, "host", "https://cloud.langfuse.com");
        try {
            URI u = new URI(host);
            if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null) {
                throw new IllegalArgumentException();
            }
        } catch (Exception e) {
            throw new IllegalArgumentException("langfuse.host must be an http or https URL, got \"" + host + "\"");
        }
        String pk = key(n, "public_key", "LANGFUSE_PUBLIC_KEY");
        String sk = key(n, "secret_key", "LANGFUSE_SECRET_KEY");
        return new LangfuseConfig(host.replaceAll("/+$", ""), pk, sk,
                ConfigValues.bool(n, ROOT, "create_traces", false),
                ConfigValues.integer(n, ROOT, "poll_seconds", 10, 1, 86_400) * 1000,
                ConfigValues.integer(n, ROOT, "poll_overlap_seconds", 600, 0, 7 * 86_400) * 1000,
                ConfigValues.integer(n, ROOT, "flush_ms", 1000, 10, 3_600_000),
                ConfigValues.intValue(n, ROOT, "batch_size", 100, 1, 1000),
                ConfigValues.integer(n, ROOT, "watch_hours", 24, 1, 24 * 365) * 3_600_000L,
                ConfigValues.integer(n, ROOT, "timeout_ms", 10_000, 100, 600_000));
    }

    /** A key given as is, or named by an environment variable (which may be unset: checked at start). */
    private static String key(JsonNode n, String field, String defaultEnv) {
        String direct = ConfigValues.string(n, ROOT, field, null);
        String env = ConfigValues.string(n, ROOT, field + "_env", defaultEnv);
        return direct != null ? direct : System.getenv(env);
    }

    /** Fails with a one-line reason when a key is missing (at start, not when the file is checked). */
    public LangfuseConfig requireKeys() {
        if (publicKey == null || publicKey.isEmpty() || secretKey == null || secretKey.isEmpty()) {
            throw new IllegalArgumentException("langfuse: the public and secret keys are required (set the "
                    + "variables named by langfuse.public_key_env and langfuse.secret_key_env, by default "
                    + "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY)");
        }
        return this;
    }

    @Override
    public String toString() {
        return "LangfuseConfig[host=" + host + ", createTraces=" + createTraces + "]"; // never the keys
    }
}
