package dev.tollgate.proxy.config;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * The whole configuration of a Tollgate node, as read from YAML ({@link ConfigLoader}). Every field is
 * optional; {@link #withDefaults()} fills in what a loopback sidecar needs.
 *
 * @param listen              client-facing address, {@code host:port}
 * @param admin               admin address ({@code /metrics}, {@code /admin/v1/...}), {@code host:port}
 * @param dataDir             directory of the embedded ledger and journal
 * @param upstreams           upstream inference servers (at least one to serve)
 * @param apiKeys             client keys (hashed); empty = open proxy, every request is account "anonymous"
 * @param adminToken          bearer token the admin API requires; null = admin API open on its address
 * @param limits              sizes and timeouts
 * @param settlement          the settlement section, passed to the escrow adapter as a tree
 * @param grpc                address of the gRPC control service, {@code host:port}; null or {@code off} = no gRPC
 * @param tls                 certificate and key for TLS on the client-facing listener; null = plain HTTP
 * @param upstreamCaFile      PEM file of CA certificates trusted for https upstreams; null = the JDK's
 * @param metrics             what {@code /metrics} labels; null = defaults
 * @param langfuse            the {@code langfuse:} section (trace write-back, scores), passed on as a tree; null = off
 * @param backgroundThreads   {@code idle}: the journal writer, metering, ledger, settler and WAL checkpointer threads run in
 *                            Linux's idle scheduling class, below the event loops ({@link #DEFAULT_BACKGROUND_THREADS});
 *                            {@code normal}: left as started
 */
@JsonIgnoreProperties(ignoreUnknown = false)
public record ProxyConfig(
        @JsonProperty("listen") String listen,
        @JsonProperty("admin") String admin,
        @JsonProperty("data_dir") String dataDir,
        @JsonProperty("upstreams") List<UpstreamConfig> upstreams,
        @JsonProperty("api_keys") List<ApiKeyConfig> apiKeys,
        @JsonProperty("admin_token") String adminToken,
        @JsonProperty("limits") Limits limits,
        @JsonProperty("settlement") JsonNode settlement,
        @JsonProperty("grpc") String grpc,
        @JsonProperty("tls") Tls tls,
        @JsonProperty("upstream_ca_file") String upstreamCaFile,
        @JsonProperty("metrics") Metrics metrics,
        @JsonProperty("langfuse") JsonNode langfuse,
        @JsonProperty("background_threads") String backgroundThreads) {

    /** Without a {@code langfuse:} section. */
    public ProxyConfig(String listen, String admin, String dataDir, List<UpstreamConfig> upstreams,
                       List<ApiKeyConfig> apiKeys, String adminToken, Limits limits, JsonNode settlement, String grpc,
                       Tls tls, String upstreamCaFile, Metrics metrics) {
        this(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls, upstreamCaFile,
                metrics, null, null);
    }

    public static final String DEFAULT_LISTEN = "127.0.0.1:8080";
    public static final String DEFAULT_ADMIN = "127.0.0.1:9090";

    /** gRPC is off unless an address is configured ({@code grpc:} or {@code --grpc}). */
    public static final String DEFAULT_GRPC = "off";

    /** Background threads below the event loops unless configured otherwise. */
    public static final String DEFAULT_BACKGROUND_THREADS = "idle";

    public static ProxyConfig empty() {
        return new ProxyConfig(null, null, null, null, null, null, null, null, null, null, null, null);
    }

    /**
     * What {@code /metrics} labels.
     *
     * @param models models that get their own {@code model} label besides the priced ones; every other model is
     *               {@code model="other"} (request records and account totals keep the real name)
     */
    public record Metrics(@JsonProperty("models") List<String> models) {
    }

    /** The models that get their own metrics label: {@code metrics.models} (the priced models are added by the node). */
    public List<String> metricsModels() {
        return metrics == null || metrics.models() == null ? List.of() : metrics.models();
    }

    public ProxyConfig withMetrics(Metrics v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls,
                upstreamCaFile, v, langfuse, backgroundThreads);
    }

    /** Certificate chain and private key (PEM files) for TLS on the listening side. */
    public record Tls(@JsonProperty("cert_file") String certFile, @JsonProperty("key_file") String keyFile) {
    }

    public ProxyConfig withDefaults() {
        return new ProxyConfig(
                listen == null ? DEFAULT_LISTEN : listen,
                admin == null ? DEFAULT_ADMIN : admin,
                dataDir == null ? ".tollgate" : dataDir,
                upstreams == null ? List.of() : List.copyOf(upstreams),
                apiKeys == null ? List.of() : List.copyOf(apiKeys),
                adminToken,
                (limits == null ? Limits.defaults() : limits.withDefaults()),
                settlement,
                grpc == null ? DEFAULT_GRPC : grpc,
                tls,
                upstreamCaFile,
                metrics,
                langfuse,
                backgroundThreads == null ? DEFAULT_BACKGROUND_THREADS : backgroundThreads);
    }

    public ProxyConfig withListen(String v) {
        return new ProxyConfig(v, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withAdmin(String v) {
        return new ProxyConfig(listen, v, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withDataDir(String v) {
        return new ProxyConfig(listen, admin, v, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withUpstreams(List<UpstreamConfig> v) {
        return new ProxyConfig(listen, admin, dataDir, v, apiKeys, adminToken, limits, settlement, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withApiKeys(List<ApiKeyConfig> v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, v, adminToken, limits, settlement, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withAdminToken(String v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, v, limits, settlement, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withLimits(Limits v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, v, settlement, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withLangfuse(JsonNode v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls,
                upstreamCaFile, metrics, v, backgroundThreads);
    }

    public ProxyConfig withBackgroundThreads(String v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls,
                upstreamCaFile, metrics, langfuse, v);
    }

    public ProxyConfig withSettlement(JsonNode v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, v, grpc, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withGrpc(String v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, v, tls, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withTls(Tls v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, v, upstreamCaFile, metrics, langfuse, backgroundThreads);
    }

    public ProxyConfig withUpstreamCaFile(String v) {
        return new ProxyConfig(listen, admin, dataDir, upstreams, apiKeys, adminToken, limits, settlement, grpc, tls, v, metrics, langfuse, backgroundThreads);
    }

    /**
     * Sizes and timeouts.
     *
     * @param maxRequestBodyBytes   larger request bodies get 413
     * @param maxHeaderBytes        larger request heads get 431
     * @param connectTimeoutMillis  upstream connect timeout
     * @param idleTimeoutMillis     longest silence from an upstream before the exchange fails (between events)
     * @param clientIdleTimeoutMillis longest an idle client connection is kept open
     * @param ejectAfterFailures    consecutive connect failures that eject an upstream
     * @param ejectMillis           how long an ejected upstream is skipped
     * @param writeBufferLowBytes   client write-buffer low-water mark (reads resume below it)
     * @param writeBufferHighBytes  client write-buffer high-water mark (upstream reads stop above it)
     * @param meteringQueue         capacity of the hand-off queue to the metering thread
     */
    public record Limits(
            @JsonProperty("max_request_body_bytes") Integer maxRequestBodyBytes,
            @JsonProperty("max_header_bytes") Integer maxHeaderBytes,
            @JsonProperty("connect_timeout_ms") Integer connectTimeoutMillis,
            @JsonProperty("idle_timeout_ms") Integer idleTimeoutMillis,
            @JsonProperty("client_idle_timeout_ms") Integer clientIdleTimeoutMillis,
            @JsonProperty("eject_after_failures") Integer ejectAfterFailures,
            @JsonProperty("eject_ms") Integer ejectMillis,
            @JsonProperty("write_buffer_low_bytes") Integer writeBufferLowBytes,
            @JsonProperty("write_buffer_high_bytes") Integer writeBufferHighBytes,
            @JsonProperty("metering_queue") Integer meteringQueue,
            @JsonProperty("request_read_timeout_ms") Integer requestReadTimeoutMillis) {

        public static Limits defaults() {
            return new Limits(null, null, null, null, null, null, null, null, null, null, null).withDefaults();
        }

        public Limits withDefaults() {
            return new Limits(
                    or(maxRequestBodyBytes, 4 * 1024 * 1024),
                    or(maxHeaderBytes, 16 * 1024),
                    or(connectTimeoutMillis, 2_000),
                    or(idleTimeoutMillis, 60_000),
                    or(clientIdleTimeoutMillis, 120_000),
                    or(ejectAfterFailures, 3),
                    or(ejectMillis, 10_000),
                    or(writeBufferLowBytes, 32 * 1024),
                    or(writeBufferHighBytes, 64 * 1024),
                    or(meteringQueue, 65_536),
                    or(requestReadTimeoutMillis, 30_000));
        }

        public Limits withIdleTimeoutMillis(int v) {
            return new Limits(maxRequestBodyBytes, maxHeaderBytes, connectTimeoutMillis, v, clientIdleTimeoutMillis,
                    ejectAfterFailures, ejectMillis, writeBufferLowBytes, writeBufferHighBytes, meteringQueue,
                    requestReadTimeoutMillis);
        }

        public Limits withMaxRequestBodyBytes(int v) {
            return new Limits(v, maxHeaderBytes, connectTimeoutMillis, idleTimeoutMillis, clientIdleTimeoutMillis,
                    ejectAfterFailures, ejectMillis, writeBufferLowBytes, writeBufferHighBytes, meteringQueue,
                    requestReadTimeoutMillis);
        }

        public Limits withRequestReadTimeoutMillis(int v) {
            return new Limits(maxRequestBodyBytes, maxHeaderBytes, connectTimeoutMillis, idleTimeoutMillis,
                    clientIdleTimeoutMillis, ejectAfterFailures, ejectMillis, writeBufferLowBytes, writeBufferHighBytes,
                    meteringQueue, v);
        }

        private static Integer or(Integer v, int d) {
            return v == null ? d : v;
        }
    }
}
