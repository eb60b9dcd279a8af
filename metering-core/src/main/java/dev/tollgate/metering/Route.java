package dev.tollgate.metering;

/** The OpenAI-compatible endpoints Tollgate meters. Everything else is passed through unmetered. */
public enum Route {
    CHAT_COMPLETIONS("/v1/chat/completions"),
    COMPLETIONS("/v1/completions"),
    EMBEDDINGS("/v1/embeddings");

    private final String path;

    Route(String path) {
        this.path = path;
    }

    public String path() {
        return path;
    }

    /** The metered route for a request path (query string already removed), or {@code null}. */
    public static Route forPath(String path) {
        for (Route r : values()) {
            if (r.path.equals(path)) {
                return r;
            }
        }
        return null;
    }
}
