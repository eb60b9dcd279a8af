package dev.tollgate.metering;

/**
 * The endpoints Tollgate meters. Token-metered routes have a path; {@link #PER_REQUEST} stands for every
 * path that is priced per request in the settlement configuration (the usage record's {@code model} then
 * holds that path). What other requests become is decided by the proxy's route policy, not here.
 */
public enum Route {
    CHAT_COMPLETIONS("/v1/chat/completions"),
    COMPLETIONS("/v1/completions"),
    EMBEDDINGS("/v1/embeddings"),
    /** The OpenAI Responses API ({@code POST /v1/responses}); usage comes in {@code response.completed}. */
    RESPONSES("/v1/responses"),
    /** A POST path with its own entry in {@code settlement.prices}: one price per request, body not parsed. */
    PER_REQUEST(null);

    private final String path;

    Route(String path) {
        this.path = path;
    }

    /** The route's canonical path, or {@code null} for {@link #PER_REQUEST}. */
    public String path() {
        return path;
    }

    /**
     * The token-metered route for a canonical request path (query string already removed), or {@code null}.
     * Never returns {@link #PER_REQUEST}.
     */
    public static Route forPath(String path) {
        for (Route r : values()) {
            if (r.path != null && r.path.equals(path)) {
                return r;
            }
        }
        return null;
    }
}
