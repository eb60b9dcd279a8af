package dev.tollgate.metering;

/** Where a usage record's token counts come from. */
public enum UsageSource {
    /** Counts reported by the upstream engine in its {@code usage} object (final or continuous). */
    UPSTREAM("upstream"),
    /** Counts estimated with a local tokenizer over the prompt and the delivered text. */
    ESTIMATED("estimated"),
    /** No tokens were involved (the request never reached an upstream). */
    NONE("none");

    private final String wireName;

    UsageSource(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    public static UsageSource fromWireName(String name) {
        for (UsageSource s : values()) {
            if (s.wireName.equals(name)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown usage source: " + name);
    }
}
