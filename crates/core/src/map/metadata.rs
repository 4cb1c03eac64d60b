//! Visitor and account metadata records (pendo.md section 6):
//! `{"visitorId":"u-123","values":{"plan":"pro","seats":12}}` from identify traits,
//! `{"accountId":"acme-corp","values":{...}}` from group traits. The link trait (`accountId`) is
//! a link, not a value. The delivery engine batches records into the request's array.

use super::keys::{KeyWriter, Source};
use super::{DropReason, Mapper, MetadataKind};
use crate::event::Event;
use crate::json::write_str;
use crate::tape::Obj;

/// The visitor record of an identify; `m.visitor` is set.
pub(super) fn write_visitor(m: &mut Mapper, ev: &Event<'_, '_>) -> Result<(), DropReason> {
    write_record(m, MetadataKind::Visitor, ev.traits.or(ev.context.traits))
}

/// The account record of a group call.
pub(super) fn write_account(m: &mut Mapper, ev: &Event<'_, '_>) -> Result<(), DropReason> {
    m.account.clear();
    if let Some(g) = &ev.group_id {
        m.account.push_str(g.as_str());
    }
    write_record(m, MetadataKind::Account, ev.traits)
}

fn write_record(
    m: &mut Mapper,
    kind: MetadataKind,
    traits: Option<Obj<'_, '_>>,
) -> Result<(), DropReason> {
    let Mapper {
        bp,
        out,
        warnings,
        taken,
        scratch,
        fields,
        visitor,
        account,
        ..
    } = m;
    let (target, id) = match kind {
        MetadataKind::Visitor => (&bp.metadata.visitor, visitor),
        MetadataKind::Account => (&bp.metadata.account, account),
    };
    let link = bp.metadata.link_trait.as_str();
    out.push(b'{');
    write_str(out, &target.id_field);
    out.push(b':');
    write_str(out, id);
    out.extend_from_slice(b",\"values\":");
    let mut w = KeyWriter::begin(
        out,
        warnings,
        taken,
        scratch,
        &target.rules,
        Some(fields),
        traits,
    );
    for (k, v) in traits.iter().flat_map(|t| t.iter()) {
        if k != link {
            w.input(k, Source::Tape(v));
        }
    }
    let written = w.end();
    out.push(b'}');
    if written == 0 {
        return Err(DropReason::NoTraits);
    }
    Ok(())
}
