"""Grid signals: the webhook (native JSON and OpenADR 3), price-feed pollers, zone state.

Every signal is validated, normalized, written to the ledger and only then acknowledged; the
processing that turns it into GridZone status and DemandResponseEvents runs afterwards, from
the ledger, so a restart loses nothing::

    model         the normalized Signal and DrOrder, and their ledger payload
    timing        RFC 3339 times and ISO 8601 durations (0001-01-01 = now, P9999Y = open)
    openadr       pydantic models of the OpenADR 3 subset we use; snake_case and verb spellings
    openadr_map   events -> signals: interval expansion, payload types, cancellation (pure)
    native        the native webhook's JSON schema -> signals
    auth          bearer tokens per grid operator, HMAC signatures, replay window (pure)
    tou, tou_data time-of-use lookups (pure) and the shipped data/tou-tariffs.yaml
    entsoe        ENTSO-E A44 XML -> prices, forward-filled (pure)
    zonestate     signals + spec + now -> GridZone status, SignalsFresh/Stale (pure)
    directory     known zones (targets, ids) and the Hub port
    ingest        authenticate, normalize, record; shared by both endpoints
    webhook       create_app(ingestor): the FastAPI app, 413/401/400/422/503 answers
    feeds         TimeOfUse, HTTPJSON, ElectricityMaps, ENTSOE, OpenADRPoll providers
    openadr_client  OAuth2 client credentials, subscription, GET /events, POST /reports
    processor     ledger -> DemandResponseEvents and GridZone status, idempotent
    service       SignalService: APScheduler jobs (leader only) and the processing loop
    wiring        build(settings, ...) and server(app, settings)

It reaches PostgreSQL only through the ledger's door (``orchestrator.ledger.handle.Ledger``)
and never imports the Kubernetes client; the caller passes the ledger and the hub in. How
``gridshift run`` wires it, inside the operator's asyncio loop::

    from orchestrator.clusters.kube import client_from_file
    from orchestrator.clusters.hub import HubClient
    from orchestrator.ledger.handle import Ledger
    from orchestrator.signals.wiring import build, server

    hub = HubClient(client_from_file(settings.kubeconfig))
    ledger = Ledger(settings.database_url.get_secret_value())
    async with httpx.AsyncClient() as http:
        signals = build(settings, ledger=ledger, hub=hub, http=http,
                        leader=lambda: elector.is_leader)
        await signals.service.start()
        web = server(signals.app, settings)
        try:
            await web.serve()              # until shutdown; uvicorn handles SIGTERM
        finally:
            await signals.service.stop()

``leader`` is read before every job and every processing run: the webhook answers on every
replica, while only the leader polls feeds and writes zone status. Set ``webhook_host`` to
``0.0.0.0`` in a Pod (the default 127.0.0.1 serves only loopback) and put the operators'
tokens in the Secret ``webhook_token_secret`` of ``namespace``.
"""
