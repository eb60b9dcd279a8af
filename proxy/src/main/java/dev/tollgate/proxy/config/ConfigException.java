package dev.tollgate.proxy.config;

/** A configuration problem, with a message fit for a one-line error. */
public final class ConfigException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
