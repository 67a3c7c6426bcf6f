"""Customers: profiles and their history; the root every other domain hangs off.

Public contract (import only `service`, `schemas`, `hooks` from other domains):

- `service.create_customer(session, *, data: CustomerCreate, actor) -> CustomerRead`
- `service.get_customer(session, customer_id) -> CustomerRead`  (NotFound field="customer_id")
- `service.get_customer_by_external_id(session, external_id) -> CustomerRead`
- `service.resolve_customer_id(session, *, customer_id=None, external_id=None) -> int`  (follows merges)
- `service.ensure_customer(session, *, external_id, actor, email=None, name=None) -> int`  (get-or-create)
- `service.ensure_customers(session, *, external_ids, actor) -> dict[str, int]`  (bulk get-or-create)
- `service.update_customer(session, *, customer_id, data: CustomerUpdate, actor) -> CustomerRead`
- `service.list_customers(session, *, q, tag, status, limit, offset) -> CustomerPage`
- `service.set_address / list_addresses / set_consent / list_consents / has_consent`
- `service.add_tag / remove_tag / set_values`
- `service.find_duplicates / merge_customers(session, *, survivor_id, duplicate_id, actor)`
- `service.customer_360 / export_customer / erase_customer`
- `hooks.register_merge_handler / register_erasure_handler / register_export_section /
  register_view_section`

Tables other domains may reference by foreign key: `customers.id`. Statuses: active, closed,
merged (tombstone with `merged_into_id`), erased (personal data anonymised, ids kept).
"""
