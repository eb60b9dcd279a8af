package dev.tollgate.metering.agent;

/** Cumulative usage of one account. */
public record UsageTotals(String account, long requests, long promptTokens, long completionTokens) {
}
