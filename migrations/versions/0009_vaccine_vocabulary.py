"""vaccinations: typed product names become the codes of the rules' vaccine vocabulary (a data migration)

Before the vocabulary, a dose's vaccine was free text compared case-sensitively with the rules' codes, so
"AstraZeneca" or "Vero Cell" counted as no data. This maps every stored value that names a product (by its code,
name or a synonym, with case, spaces, punctuation and diacritics ignored) to the product's code.

The mapping is written out here, not imported from the app: a migration must do the same thing whenever it runs,
while the rule files may change later. It is the vocabulary of rules/health_status/hcm-1913.yaml at this revision.

Values it cannot map are kept as they are, and logged: the typed text is the only record of what was given, so
replacing it by a reserved "other" code would destroy it, and guessing would risk a false green. They still count
as no data, as before; `flask people unknown-vaccines` lists them for the ward officers to correct.

Revision ID: 0009
Revises: 0002
Create Date: 2026-12-10 09:00:00

"""
import logging
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0002'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

PRODUCTS = {
    'astrazeneca': ['AstraZeneca (Vaxzevria)', 'AstraZeneca', 'Astra Zeneca', 'Vaxzevria', 'AZ', 'ChAdOx1',
                    'ChAdOx1 nCoV-19', 'AZD1222', 'Covishield'],
    'pfizer': ['Pfizer-BioNTech (Comirnaty)', 'Pfizer', 'Pfizer-BioNTech', 'Comirnaty', 'BioNTech', 'BNT162b2'],
    'moderna': ['Moderna (Spikevax)', 'Moderna', 'Spikevax', 'mRNA-1273'],
    'sinopharm': ['Sinopharm (Vero Cell)', 'Sinopharm', 'Vero Cell', 'BBIBP-CorV'],
    'sputnik_v': ['Sputnik V', 'Sputnik', 'Gam-COVID-Vac'],
    'abdala': ['Abdala', 'CIGB-66'],
    'janssen': ['Janssen', 'Johnson & Johnson', 'J&J', 'Ad26.COV2.S'],
}


def _key(text):
    """As backoffice.health.vaccines.vaccine_key at this revision."""
    value = unicodedata.normalize('NFKD', str(text).replace('đ', 'd').replace('Đ', 'D')).lower()
    value = ''.join(ch for ch in value if not unicodedata.combining(ch))
    return re.sub(r'[^a-z0-9]+', '', value)


def mapping():
    return {_key(text): code for code, names in PRODUCTS.items() for text in (code, *names)}


def upgrade():
    bind = op.get_bind()
    vaccinations = sa.table('vaccinations', sa.column('vaccine', sa.String))
    codes = mapping()
    values = [row[0] for row in bind.execute(sa.select(vaccinations.c.vaccine).distinct())]
    unknown = []
    for value in values:
        code = codes.get(_key(value)) if value is not None else None
        if code is None:
            unknown.append(value)
        elif code != value:
            bind.execute(vaccinations.update().where(vaccinations.c.vaccine == value).values(vaccine=code))
    if unknown:
        log.warning("vaccinations: %d value(s) name no product and were kept (flask people unknown-vaccines): %s",
                    len(unknown), ", ".join(repr(v) for v in sorted(unknown, key=str)))


def downgrade():
    # The codes were valid values before this revision too; the spellings they replaced are not kept.
    pass
