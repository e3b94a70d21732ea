//! A cache hit is written without allocating (DESIGN §4.4 "Zero allocation"): positive answers
//! through a CNAME, negative answers and misses, counted by `allocation-counter` in this binary.

/// Named after the file, so that `cargo test -p portcullis-engine resolve` selects these tests.
#[cfg(test)]
mod resolve_cache_no_alloc {
    use portcullis_engine::cache::{Cache, CacheSettings, Rrset, Trust};
    use portcullis_engine::policy::Instant;
    use portcullis_wire::message::Question;
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, NameBuf, Rtype};

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    fn filled_cache() -> Cache {
        let cache = Cache::new(CacheSettings::DEFAULT);
        let mut cname = Rrset::new(name("www.example."), Rtype::CNAME, Class::IN, 300);
        cname.push(300, name("web.example.").as_wire());
        cache.insert_rrset(&cname, Trust::AuthAnswer, Instant::ZERO);
        let mut a = Rrset::new(name("web.example."), Rtype::A, Class::IN, 300);
        a.push(300, &[192, 0, 2, 1]);
        a.push(300, &[192, 0, 2, 2]);
        cache.insert_rrset(&a, Trust::AuthAnswer, Instant::ZERO);
        let mut soa = Rrset::new(name("example."), Rtype::SOA, Class::IN, 300);
        soa.push(300, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 60]);
        cache.insert_negative(&name("nx.example."), None, Class::IN, Some(&soa), Trust::AuthAuthority, Instant::ZERO);
        cache
    }

    #[test]
    fn cache_hits_and_misses_do_not_allocate() {
        let cache = filled_cache();
        let mut buf = vec![0u8; 4096];
        for (qname, expect_hit) in [("WWW.example.", true), ("nx.example.", true), ("miss.example.", false)] {
            let question = Question { qname: name(qname), qtype: Rtype::A, qclass: Class::IN };
            let mut hit = None;
            let counts = allocation_counter::measure(|| {
                let Ok(mut writer) = MessageWriter::new(&mut buf, 1232) else { return };
                if writer.push_question(&question.qname, question.qtype, question.qclass).is_ok() {
                    hit = cache.write_answer(&question, Instant::from_secs(10), false, &mut writer);
                }
            });
            assert_eq!(hit.is_some(), expect_hit, "{qname}");
            assert_eq!(counts.count_total, 0, "{qname} allocated");
        }
    }
}
