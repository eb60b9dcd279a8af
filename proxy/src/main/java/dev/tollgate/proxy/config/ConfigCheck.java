package dev.tollgate.proxy.config;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.langfuse.LangfuseConfig;
import dev.tollgate.escrow.settle.ConfigValues;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import java.nio.file.Path;
import java.util.Set;

/**
 * Checks a whole configuration tree before it is mapped to {@link ProxyConfig}: every key known, every value
 * of the right type and in range, each error naming the key's full path and what it accepts
 * ({@code limits.idle_timeout_ms must be a positive integer, got "60s"}). Unknown keys, strings where numbers
 * are expected, fractions, negative numbers and strings where booleans are expected are all errors; nothing
 * falls back to a default silently. The {@code settlement:} section is checked by
 * {@link SettlementConfigReader}.
 *
 * <p>Threading: stateless.
 */
final class ConfigCheck {
    private static final Set<String> TOP = Set.of("listen", "admin", "data_dir", "upstreams", "api_keys",
            "admin_token", "limits", "settlement", "grpc", "tls", "upstream_ca_file", "metrics", "langfuse",
            "background_threads");
    private static final Set<String> UPSTREAM = Set.of("name", "url", "api_key", "api_key_env", "continuous_usage",
            "worker", "kind", "endpoint_id", "poll_ms");
    private static final int MAX_INT = Integer.MAX_VALUE;

    private ConfigCheck() {
    }

    /** Checks {@code root} (the parsed file, or a config built in code turned into a tree). */
    static void check(JsonNode root) {
        try {
            checkTree(root);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    private static void checkTree(JsonNode root) {
        if (root == null || root.isNull() || root.isMissingNode()) {
            return;
        }
        ConfigValues.only(root, "the configuration", TOP);
        for (String s : new String[] {"listen", "admin", "data_dir", "admin_token", "upstream_ca_file"}) {
            ConfigValues.string(root, "", s, null);
        }
        JsonNode grpc = root.get("grpc");
        if (grpc != null && !grpc.isNull() && !grpc.isTextual()) {
            throw new IllegalArgumentException("grpc must be HOST:PORT or \"off\" (quoted), got "
                    + ConfigValues.shown(grpc));
        }
        ConfigValues.oneOf(root, "", "background_threads", ProxyConfig.DEFAULT_BACKGROUND_THREADS,
                java.util.List.of("idle", "normal"));
        int n = 0;
        for (JsonNode u : list(root, "", "upstreams")) {
            String where = "upstreams[" + n++ + "]";
            ConfigValues.only(u, where, UPSTREAM);
            for (String s : new String[] {"name", "url", "api_key", "api_key_env", "worker", "endpoint_id"}) {
                ConfigValues.string(u, where, s, null);
            }
            ConfigValues.bool(u, where, "continuous_usage", true);
            if (ConfigValues.oneOf(u, where, "kind", "openai", java.util.List.of("openai", "runpod")).equals("runpod")
                    && (!u.hasNonNull("endpoint_id") || u.get("endpoint_id").asText().isBlank())) {
                throw new IllegalArgumentException(where + ".endpoint_id is required for kind: runpod");
            }
            ConfigValues.integer(u, where, "poll_ms", 1000, 1, 3_600_000);
        }
        n = 0;
        for (JsonNode k : list(root, "", "api_keys")) {
            String where = "api_keys[" + n++ + "]";
            ConfigValues.only(k, where, Set.of("sha256", "account"));
            ConfigValues.string(k, where, "sha256", null);
            ConfigValues.string(k, where, "account", null);
        }
        JsonNode tls = root.get("tls");
        if (tls != null && !tls.isNull()) {
            ConfigValues.only(tls, "tls", Set.of("cert_file", "key_file"));
            ConfigValues.string(tls, "tls", "cert_file", null);
            ConfigValues.string(tls, "tls", "key_file", null);
        }
        JsonNode limits = root.get("limits");
        if (limits != null && !limits.isNull()) {
            limits(limits);
        }
        JsonNode metrics = root.get("metrics");
        if (metrics != null && !metrics.isNull()) {
            ConfigValues.only(metrics, "metrics", Set.of("models"));
            n = 0;
            for (JsonNode m : list(metrics, "metrics", "models")) {
                if (!m.isTextual()) {
                    throw new IllegalArgumentException("metrics.models[" + n + "] must be a string, got "
                            + ConfigValues.shown(m));
                }
                n++;
            }
        }
        JsonNode settlement = root.get("settlement");
        if (settlement != null && !settlement.isNull()) {
            SettlementConfigReader.read(settlement, Path.of("."));
        }
        LangfuseConfig.read(root.get("langfuse"));
    }

    private static void limits(JsonNode l) {
        String w = "limits";
        ConfigValues.only(l, w, Set.of("max_request_body_bytes", "max_header_bytes", "connect_timeout_ms",
                "idle_timeout_ms", "client_idle_timeout_ms", "eject_after_failures", "eject_ms",
                "write_buffer_low_bytes", "write_buffer_high_bytes", "metering_queue", "request_read_timeout_ms"));
        ConfigValues.integer(l, w, "max_request_body_bytes", 1, 1, MAX_INT);
        ConfigValues.integer(l, w, "max_header_bytes", 1024, 1024, MAX_INT);
        ConfigValues.integer(l, w, "connect_timeout_ms", 1, 1, MAX_INT);
        ConfigValues.integer(l, w, "idle_timeout_ms", 1, 1, MAX_INT);
        ConfigValues.integer(l, w, "client_idle_timeout_ms", 1, 1, MAX_INT);
        ConfigValues.integer(l, w, "eject_after_failures", 1, 1, MAX_INT);
        ConfigValues.integer(l, w, "eject_ms", 0, 0, MAX_INT);
        long low = ConfigValues.integer(l, w, "write_buffer_low_bytes", 1, 1, MAX_INT);
        long high = ConfigValues.integer(l, w, "write_buffer_high_bytes", MAX_INT, 1, MAX_INT);
        if (l.hasNonNull("write_buffer_low_bytes") && l.hasNonNull("write_buffer_high_bytes") && low > high) {
            throw new IllegalArgumentException("limits.write_buffer_low_bytes (" + low
                    + ") must not exceed limits.write_buffer_high_bytes (" + high + ")");
        }
        ConfigValues.integer(l, w, "metering_queue", 2, 2, 1 << 30);
        ConfigValues.integer(l, w, "request_read_timeout_ms", 1, 1, MAX_INT);
    }

    private static Iterable<JsonNode> list(JsonNode parent, String where, String field) {
        JsonNode v = parent.get(field);
        if (v == null || v.isNull()) {
            return java.util.List.of();
        }
        if (!v.isArray()) {
            throw new IllegalArgumentException(ConfigValues.path(where, field) + " must be a list, got "
                    + ConfigValues.shown(v));
        }
        return v;
    }
}
