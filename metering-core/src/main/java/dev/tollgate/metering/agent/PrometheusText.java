package dev.tollgate.metering.agent;

/**
 * Single-sample metrics in the Prometheus text exposition format (HELP, TYPE, then the sample), for every part of
 * Tollgate that appends to {@code /metrics}. Stateless.
 */
public final class PrometheusText {
    private PrometheusText() {
    }

    public static void gauge(StringBuilder out, String name, String help, long value) {
        sample(out, name, help, "gauge", value);
    }

    public static void counter(StringBuilder out, String name, String help, long value) {
        sample(out, name, help, "counter", value);
    }

    private static void sample(StringBuilder out, String name, String help, String type, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(' ')
                .append(type).append('\n').append(name).append(' ').append(value).append('\n');
    }
}
