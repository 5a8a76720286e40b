"""Grid signals: the webhook (native JSON and OpenADR 3), price-feed pollers, zone state."""
