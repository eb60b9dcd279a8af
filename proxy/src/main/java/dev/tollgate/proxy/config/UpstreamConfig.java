package dev.tollgate.proxy.config;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One upstream inference server (vLLM, a RunPod OpenAI endpoint).
 *
 * @param name            label used in metrics and usage records; defaults to host:port
 * @param url             base URL, e.g. {@code http://127.0.0.1:8000/v1} or
 *                        {@code https://api.runpod.ai/v2/<id>/openai/v1}
 * @param apiKey          bearer key sent to this upstream (never the client's)
 * @param apiKeyEnv       environment variable holding the bearer key, used when {@code apiKey} is absent
 * @param continuousUsage whether to ask for {@code continuous_usage_stats} (vLLM supports it; OpenAI does not)
 * @param worker          the payee agent id for escrow settlement (defaults to the name)
 * @param kind            {@code openai} (default: the OpenAI relay) or {@code runpod} (RunPod's native job API,
 *                        {@code dev.tollgate.proxy.runpod})
 * @param endpointId      RunPod endpoint id ({@code kind: runpod}); clients call {@code /v2/<endpoint_id>/...}
 * @param pollMs          RunPod: first interval between Tollgate's own {@code /status} polls of a job (default 1000;
 *                        it backs off to 16 times this)
 */
public record UpstreamConfig(
        @JsonProperty("name") String name,
        @JsonProperty("url") String url,
        @JsonProperty("api_key") String apiKey,
        @JsonProperty("api_key_env") String apiKeyEnv,
        @JsonProperty("continuous_usage") Boolean continuousUsage,
        @JsonProperty("worker") String worker,
        @JsonProperty("kind") String kind,
        @JsonProperty("endpoint_id") String endpointId,
        @JsonProperty("poll_ms") Integer pollMs) {

    /** RunPod's API, the default {@code url} of a {@code kind: runpod} upstream. */
    public static final String RUNPOD_API = "https://api.runpod.ai";

    /** An OpenAI-compatible upstream. */
    public UpstreamConfig(String name, String url, String apiKey, String apiKeyEnv, Boolean continuousUsage,
                          String worker) {
        this(name, url, apiKey, apiKeyEnv, continuousUsage, worker, null, null, null);
    }

    public static UpstreamConfig of(String url) {
        return new UpstreamConfig(null, url, null, null, null, null);
    }

    /** Whether this upstream is RunPod's native job API ({@code kind: runpod}). */
    @com.fasterxml.jackson.annotation.JsonIgnore
    public boolean isRunPod() {
        return "runpod".equals(kind);
    }

    /** The base URL, with RunPod's API as the default of a {@code kind: runpod} upstream. */
    public String effectiveUrl() {
        return url == null && isRunPod() ? RUNPOD_API : url;
    }

    /** The bearer key to send, resolved from the config or the environment, or null. */
    public String resolvedApiKey() {
        if (apiKey != null && !apiKey.isEmpty()) {
            return apiKey;
        }
        if (apiKeyEnv != null && !apiKeyEnv.isEmpty()) {
            String v = System.getenv(apiKeyEnv);
            return v == null || v.isEmpty() ? null : v;
        }
        return null;
    }

    public boolean wantsContinuousUsage() {
        return continuousUsage == null || continuousUsage;
    }
}
