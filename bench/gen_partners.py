#!/usr/bin/env python3
"""Writes a resources directory with N partners × C contacts, each contact
with one action (10 event types in turn), plus one template, for the memory
and matching benchmarks:  bench/gen_partners.py DIR [PARTNERS] [CONTACTS] [PER_FILE]

Partners go PER_FILE (default 1000) to a file: toml++ 3.3.0 parses the
arrays of tables of one document in quadratic time (10k partners × 10
contacts in one file: 4.8 s; 20k: 20 s; 100k: 448 s)."""
import os
import sys

TYPES = ["invoice.posted", "stock_document.posted", "customer_order.created", "customer_order.realized",
         "supplier_order.created", "case.status_changed", "customer_order.status_changed", "user.registered",
         "user.password_reset", "interaction.registered"]


def main():
    out = sys.argv[1]
    partners = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    contacts = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    per_file = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "a-templates.toml"), "w") as f:
        f.write('[[template]]\nid = "t"\nsubject = "Faktúra {{document.number}}"\n'
                'text = "Dobrý deň {{contact.name}}, suma {{document.total | money}}."\n')
    for first in range(0, partners, per_file):
        with open(os.path.join(out, f"b-partners-{first // per_file:05d}.toml"), "w") as f:
            for p in range(first, min(partners, first + per_file)):
                f.write(f'[[partner]]\nid = "P-{p}"\nname = "Partner {p} s.r.o."\nlocale = "sk-SK"\n')
                for c in range(contacts):
                    f.write(f'[[partner.contacts]]\nid = "c{c}"\nkind = "email"\nvalue = "c{c}@p{p}.example"\n'
                            f'name = "Kontakt {c}"\n[[partner.contacts.actions]]\non = "{TYPES[c % len(TYPES)]}"\n'
                            'template = "t"\n')


if __name__ == "__main__":
    main()
