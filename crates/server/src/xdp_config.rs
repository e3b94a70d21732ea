//! `[server] xdp`: the interfaces whose UDP queries take the AF_XDP path (`portcullis_net::xdp`).

/// Interface names the kernel accepts (IFNAMSIZ: at most 15 octets, no `/`, no whitespace),
/// each once; errors name the entry.
pub fn interfaces(list: Option<&[String]>, errors: &mut Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (index, name) in list.unwrap_or_default().iter().enumerate() {
        let valid = !name.is_empty() && name.len() <= 15 && !name.contains('/') && !name.chars().any(char::is_whitespace);
        if !valid {
            errors.push(format!("server.xdp[{index}]: '{name}' is not an interface name (1 to 15 characters, no '/' or spaces)"));
        } else if names.contains(name) {
            errors.push(format!("server.xdp[{index}]: '{name}' is listed twice"));
        } else {
            names.push(name.clone());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::interfaces;

    #[test]
    fn interface_names_are_checked() {
        let mut errors = Vec::new();
        let list = ["eth0", "", "a/b", "eth0", "sixteen-chars-xx"].map(String::from);
        assert_eq!(interfaces(Some(&list), &mut errors), ["eth0"]);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("server.xdp[1]:"), "{errors:?}");
        assert!(interfaces(None, &mut errors).is_empty());
    }
}
