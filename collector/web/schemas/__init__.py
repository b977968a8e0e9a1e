"""Marshmallow schemas of the analyst API: query parameters in, documents out.

Query schemas validate what analysts send (a bad value is a 400 naming the parameter);
response schemas are never used to serialise, only to generate the OpenAPI document, and they
forbid unknown keys so that schemathesis catches any drift between code and document.

| module     | holds                                                                      |
|------------|----------------------------------------------------------------------------|
| common     | the strict base, shared fields, window and page queries, problem+json      |
| summary    | the summary view                                                           |
| hosts      | the host list query and page, the host view with its pairs and pin advice  |
| chains     | the chain list query and page, the chain view with hosts and certificates  |
| timelines  | the timeline query, timelines of a host, a chain, a (host, chain) pair     |
| operations | liveness and readiness                                                     |
| triage     | the triage change body and answers, the audit and alert lists              |

Each view module imports only ``common`` (``triage`` also the alert cursor rule).
"""
