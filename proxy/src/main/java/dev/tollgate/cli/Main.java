package dev.tollgate.cli;

/** Entry point of the {@code tollgate} command. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.err.println("tollgate: not wired yet");
        System.exit(2);
    }
}
